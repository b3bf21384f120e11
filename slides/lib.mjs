// The deck's generated parts, made from the real sources every time the deck
// is built: the code and the diffs come from stages/*/container.c, the
// commands and their output from the try-it blocks of stages/*/README.md
// (which tests/tryit runs). Nothing generated is committed, so nothing
// generated can be stale; slides/check.mjs compares what the rendered decks
// show with what these functions make from the sources now.
//
// A slide of en.md or zh.md that holds one of these comments is replaced by
// the generated slides. Its heading and its speaker notes are kept, and so
// are its other lines, shown under the generated code of the first slide,
// except a line in *italics* alone, the stand-in that readers of the plain
// markdown see in place of the code:
//
//   <!-- generated: diff 01-uts 02-pid -->        what 02 adds to 01
//   <!-- generated: code 01-uts child_main main -->  functions of one stage
//   <!-- generated: tryit 05-cgroup-pids 3 -->    the 3rd console block of
//                                                 that stage's README (or
//                                                 blocks: tryit 01-uts 1 2)
//   <!-- generated: escapes -->                   the escape matrix, from
//                                                 escapes/expected

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SLIDES_DIR = dirname(fileURLToPath(import.meta.url));
export const KIT = dirname(SLIDES_DIR);
// The stages: the directories stages/NN-name/ that hold a container.c, in
// order. The one list of stages (lib/kit.bash and the Makefile read the same
// directories).
export const STAGES = readdirSync(join(KIT, 'stages'), { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && /^[0-9][0-9]-/.test(entry.name) &&
    existsSync(join(KIT, 'stages', entry.name, 'container.c')))
  .map((entry) => entry.name)
  .sort();
export const LANGS = ['en', 'zh'];

// What fits on a slide at the theme's 22px code (slides/theme.css).
export const MAX_LINES = 20;
export const MAX_COLUMNS = 90;

const TAB = '    ';

function stageFile(stage, file) {
  if (!STAGES.includes(stage)) throw new Error(`no stage '${stage}' (the stages are: ${STAGES.join(' ')})`);
  return join(KIT, 'stages', stage, file);
}

function sourceLines(stage) {
  return readFileSync(stageFile(stage, 'container.c'), 'utf8').replace(/\t/g, TAB).replace(/\n$/, '').split('\n');
}

// The range [start, end) of the function NAME in LINES, with the comment
// just above it: from its comment to the "}" that closes it in column 0.
function functionRange(lines, name, stage) {
  const head = lines.findIndex((line) => new RegExp(`^[A-Za-z_].*\\b${name}\\(`).test(line) && !line.endsWith(';'));
  if (head === -1) throw new Error(`stages/${stage}/container.c: no function ${name}()`);
  const close = lines.findIndex((line, i) => i > head && line === '}');
  let start = head;
  if (lines[start - 1]?.endsWith('*/')) {
    while (start > 0 && !lines[start - 1].startsWith('/*')) start--;
    start--;
  }
  return [start, close + 1];
}

// The line above which each stage holds its lesson, and below which the
// plumbing every stage shares, byte for byte.
export const SHARED_BANNER = '/*** below: the same in every stage ***/';

// A stage's source as its diff slides compare it, tabs as four spaces: the
// lesson, from the end of the header comment down to the SHARED_BANNER,
// without the #includes and the STAGE name. What is left out is the header
// comment, which the slides' prose says, and plumbing, identical below the
// banner; `make diff STAGE=NN` shows the whole diff. (A source without the
// banner, as the stages were before it: its sections from the first
// /*** banner ***/ on, without the command-line section.)
export function diffableSource(stage) {
  const lines = sourceLines(stage);
  const shared = lines.indexOf(SHARED_BANNER);
  if (shared !== -1) {
    const headerEnd = lines[0] === '/*' ? lines.indexOf(' */') + 1 : 0;
    const kept = lines.slice(headerEnd, shared)
      .filter((line) => !/^#(?:include\b|define _GNU_SOURCE\b|define STAGE\b)/.test(line));
    while (kept.length > 0 && kept[0].trim() === '') kept.shift();
    while (kept.length > 0 && kept.at(-1).trim() === '') kept.pop();
    return kept;
  }
  const banner = (line) => /^\/\*\*\* .* \*\*\*\/$/.test(line);
  const first = lines.findIndex(banner);
  if (first === -1) throw new Error(`stages/${stage}/container.c has neither the line ${SHARED_BANNER} nor any /*** section banner ***/`);
  const kept = [];
  let skipping = false;
  for (const line of lines.slice(first)) {
    if (banner(line)) skipping = line === '/*** the command line ***/';
    if (!skipping) kept.push(line);
  }
  return kept;
}

function isComment(text) {
  const code = text.trim();
  return code === '' || code.startsWith('/*') || code.startsWith('*') || code.startsWith('//');
}

// A line that starts a function, a struct, or a section.
const DEFINITION = /^(?:[A-Za-z_][^;=]*\([^;]*\)\s*|struct \w+ \{|\/\*\*\* .* \*\*\*\/)$/;

// The hunks of `diff -U2` between two stages' diffable sources, without the
// hunks that change only comments: [{ context, lines: [' x', '+y', ...],
// definitions: [the definitions each line is in] }]. The context is the
// function (or section) the hunk starts in, as diff -p finds it but whole.
export function diffHunks(from, to) {
  const scratch = mkdtempSync(join(tmpdir(), 'minidocker-slides-'));
  const newLines = diffableSource(to);
  try {
    const fromFile = join(scratch, `${from}.c`);
    const toFile = join(scratch, `${to}.c`);
    writeFileSync(fromFile, diffableSource(from).join('\n') + '\n');
    writeFileSync(toFile, newLines.join('\n') + '\n');
    let output;
    try {
      output = execFileSync('diff', ['-U2', fromFile, toFile], { encoding: 'utf8' });
    } catch (error) {
      if (error.status !== 1) throw error; // 1 means: they differ
      output = error.stdout;
    }
    // definitionBefore(N): the last definition above line N (1-based) of
    // the new source.
    const definitionBefore = (number) => {
      for (let i = number - 2; i >= 0; i--) if (DEFINITION.test(newLines[i])) return newLines[i];
      return '';
    };
    const hunks = [];
    let newNumber = 0;
    for (const line of output.replace(/\n$/, '').split('\n').slice(2)) {
      const header = line.match(/^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@/);
      if (header) {
        newNumber = Number(header[1]);
        hunks.push({ context: definitionBefore(newNumber), lines: [], definitions: [] });
        continue;
      }
      if (!/^[ +-]/.test(line)) continue;
      const hunk = hunks.at(-1);
      hunk.lines.push(line);
      hunk.definitions.push(DEFINITION.test(line.slice(1)) ? line.slice(1) : null);
      if (line[0] !== '-') newNumber++;
    }
    for (const hunk of hunks) {
      // A hunk that starts a new definition needs no context above it.
      const first = hunk.lines.findIndex((line) => line[0] !== ' ');
      if (first > 0 && hunk.definitions[first] &&
          hunk.lines.slice(0, first).every((line) => /^ (\}|\s*)$/.test(line))) {
        hunk.lines.splice(0, first);
        hunk.definitions.splice(0, first);
        hunk.context = '';
      }
    }
    return hunks.filter((hunk) => hunk.lines.some((line) => line[0] !== ' ' && !isComment(line.slice(1))));
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

// Lines longer than MAX_COLUMNS, broken at a space, the rest indented under
// the line's own indentation; PREFIX is the diff column (or '').
function wrap(line, prefix) {
  const out = [];
  let rest = line;
  while (rest.length > MAX_COLUMNS) {
    let cut = rest.lastIndexOf(' ', MAX_COLUMNS - 1);
    const indent = rest.slice(prefix.length).match(/^ */)[0].length + prefix.length;
    if (cut <= indent) cut = MAX_COLUMNS;
    out.push(rest.slice(0, cut));
    rest = prefix + ' '.repeat(indent - prefix.length + 4) + rest.slice(cut).trimStart();
  }
  out.push(rest);
  return out;
}

// Pack blocks onto slides of at most MAX_LINES lines. A block is a heading
// line (or null for none) and its lines; NAMES[i] is the name of what line i
// is in. A block that fits on a slide of its own but not on the current one
// starts a new slide; a block too long for one slide is cut, at a blank line
// where there is one, and goes on under its "continued" heading.
function pack(blocks) {
  const slides = [];
  let current;
  const start = () => {
    current = { lines: [], functions: [] };
    slides.push(current);
  };
  const headingLines = (text) => (text === null ? 0 : 1);
  start();
  for (const block of blocks) {
    let heading = block.heading;
    let { lines, names } = block;
    if (current.lines.length > 0 &&
        current.lines.length + headingLines(heading) + lines.length > MAX_LINES &&
        headingLines(heading) + lines.length <= MAX_LINES) {
      start();
    }
    while (lines.length > 0) {
      let room = MAX_LINES - current.lines.length - headingLines(heading);
      if (room < 4 && current.lines.length > 0) {
        start();
        room = MAX_LINES - headingLines(heading);
      }
      let take = Math.min(lines.length, room);
      if (take < lines.length) {
        // Cut where a definition (or its comment) starts after a blank
        // line, else after a blank line, in the slide's second half.
        const blank = (i) => /^[ +-]?\s*$/.test(lines[i]);
        const starts = (i) => /^[ +-]?(?:\/\*|[A-Za-z_])/.test(lines[i] ?? '');
        const cuts = [];
        for (let i = take; i > take / 2; i--) {
          if (blank(i - 1)) cuts.push({ at: i, score: starts(i) ? 2 : 1 });
        }
        const best = cuts.sort((a, b) => b.score - a.score || b.at - a.at)[0];
        if (best) take = best.at;
      }
      if (heading !== null) current.lines.push(heading);
      current.lines.push(...lines.slice(0, take));
      for (const name of names.slice(0, take)) {
        if (name && !current.functions.includes(name)) current.functions.push(name);
      }
      lines = lines.slice(take);
      names = names.slice(take);
      heading = block.continued;
      if (lines.length > 0) start();
    }
  }
  return slides.filter((slide) => slide.lines.length > 0);
}

// The name a definition line defines: child_main, struct options, or the
// section's banner text.
function definitionName(definition) {
  if (!definition) return '';
  const banner = definition.match(/^\/\*\*\* (.*) \*\*\*\/$/);
  if (banner) return banner[1];
  const struct = definition.match(/^struct (\w+)/);
  if (struct) return `struct ${struct[1]}`;
  return `${definition.match(/([A-Za-z_]\w*)\s*\(/)[1]}()`;
}

// The slides of the diff from stage FROM to stage TO:
// [{ id, language, lines, functions, caption }].
export function diffSlides(from, to) {
  const blocks = diffHunks(from, to).map((hunk) => {
    // What each line is in: the hunk's context until a definition starts.
    let inside = definitionName(hunk.context);
    const names = [];
    const lines = [];
    hunk.lines.forEach((line, i) => {
      if (hunk.definitions[i]) inside = definitionName(hunk.definitions[i]);
      for (const part of wrap(line, line[0])) {
        lines.push(part);
        names.push(inside);
      }
    });
    return {
      heading: hunk.context ? `@@ ${hunk.context}` : '@@',
      continued: '@@ …',
      lines,
      names,
    };
  });
  const slides = pack(blocks);
  return slides.map((slide, i) => ({
    id: `diff-${from.slice(0, 2)}-${to.slice(0, 2)}-${i + 1}`,
    blocks: [{ language: 'diff', lines: slide.lines }],
    functions: slide.functions,
    caption: `diff -U2 stages/${from}/container.c stages/${to}/container.c · ${i + 1}/${slides.length}`,
  }));
}

// The slides of functions NAMES of STAGE's source, as they are.
export function codeSlides(stage, names) {
  const lines = sourceLines(stage);
  const blocks = names.map((name) => {
    const [start, end] = functionRange(lines, name, stage);
    const shown = lines.slice(start, end).flatMap((line) => wrap(line, ''));
    return {
      heading: null,
      continued: `/* ${name}(), continued */`,
      lines: shown,
      names: shown.map(() => `${name}()`),
    };
  });
  // A function's own comment says what it is: no heading line above it.
  const slides = pack(blocks);
  return slides.map((slide, i) => ({
    id: `code-${stage.slice(0, 2)}-${i + 1}`,
    blocks: [{ language: 'c', lines: slide.lines }],
    functions: slide.functions,
    caption: `stages/${stage}/container.c: ${names.map((name) => `${name}()`).join(', ')} · ${i + 1}/${slides.length}`,
  }));
}

// The ```console blocks of STAGE's README: [{ layout, lines }].
export function tryitBlocks(stage) {
  const blocks = [];
  let current = null;
  for (const line of readFileSync(stageFile(stage, 'README.md'), 'utf8').split('\n')) {
    if (!current) {
      const open = line.match(/^```console(?:\s+(\S+))?\s*$/);
      if (open) { current = { layout: open[1] || '', lines: [] }; blocks.push(current); }
    } else if (line === '```') {
      current = null;
    } else {
      current.lines.push(line);
    }
  }
  return blocks;
}

// The slide of the console blocks NUMBERS (from 1) of STAGE's README.
export function tryitSlide(stage, numbers) {
  const blocks = tryitBlocks(stage);
  const shown = numbers.map((number) => {
    const block = blocks[number - 1];
    if (!block) throw new Error(`stages/${stage}/README.md has ${blocks.length} console blocks, not ${number}`);
    return block;
  });
  const layouts = [...new Set(shown.map((block) => block.layout).filter(Boolean))];
  const layout = layouts.length ? ` (${layouts.join(', ').replace(/cgroup-/g, 'cgroup ')})` : '';
  return [{
    id: `tryit-${stage.slice(0, 2)}-${numbers.join('-')}`,
    blocks: shown.map((block) => ({ language: 'console', lines: block.lines })),
    functions: [],
    caption: `stages/${stage}/README.md, ${numbers.length > 1 ? 'blocks' : 'block'} ${numbers.join(', ')}${layout} · run by tests/tryit`,
  }];
}

// The attacks of escapes/expected, the file that make escapes measures and
// the suite asserts (its header comment says the format): a line each,
// "ID FIRST description", FIRST the number of the first stage that blocks
// the attack, every stage from it on blocking it too ("-": none yet); "#"
// starts a comment. [{ id, first, description }], FIRST as the index in
// STAGES of the first stage that blocks it (STAGES.length when none does).
export function escapeAttacks() {
  const file = join(KIT, 'escapes', 'expected');
  if (!existsSync(file)) throw new Error('no escapes/expected, the attacks of the escape matrix');
  const attacks = [];
  readFileSync(file, 'utf8').split('\n').forEach((text, i) => {
    const line = text.replace(/#.*/, '').trim();
    if (line === '') return;
    const fields = line.match(/^(\S+)\s+(-|[0-9]{2})\s+(.+)$/);
    const where = `escapes/expected:${i + 1}`;
    if (!fields) throw new Error(`${where}: not "ID FIRST description" (FIRST: a stage's number, or -): ${text}`);
    const [, id, number, description] = fields;
    const first = number === '-' ? -1 : STAGES.findIndex((stage) => stage.slice(0, 2) >= number);
    if (attacks.some((attack) => attack.id === id)) throw new Error(`${where}: the attack ${id} twice`);
    attacks.push({ id, first: first === -1 ? STAGES.length : first, description });
  });
  if (attacks.length === 0) throw new Error('escapes/expected lists no attack');
  return attacks;
}

// The slide of the escape matrix, its words in LANG: a row per attack of
// escapes/expected, a column per stage, each cell "escaped" before the
// stage that blocks the attack and "blocked" from it on. The words and the
// descriptions are English, or what the deck's settings say:
// <!-- deck-escaped: ... -->, <!-- deck-blocked: ... -->,
// <!-- deck-attack: ... --> (the first column's heading) and
// <!-- deck-attack-ID: ... --> for each attack; a deck in another language
// must give each of them.
export function escapesSlide(lang = 'en', settings = {}) {
  const word = (key, english) => {
    if (settings[key] !== undefined) return settings[key];
    if (lang !== 'en') throw new Error(`no <!-- deck-${key}: ... --> for the escape matrix (escapes/expected), in ${lang}`);
    return english;
  };
  const words = { escaped: word('escaped', 'escaped'), blocked: word('blocked', 'blocked') };
  const attacks = escapeAttacks();
  const rows = attacks.map((attack) => ({
    attack: attack.id,
    description: word(`attack-${attack.id}`, attack.description),
    cells: STAGES.map((stage, i) => (i < attack.first ? 'escaped' : 'blocked')),
  }));
  const html = [
    '<table class="escapes" data-escapes="">',
    `<thead><tr><th>${escapeHtml(word('attack', 'attack'))}</th>${STAGES.map((stage) => `<th data-stage="${stage}" title="${stage}">${stage.slice(0, 2)}</th>`).join('')}</tr></thead>`,
    '<tbody>',
    ...rows.map((row) => `<tr data-attack="${escapeHtml(row.attack)}"><td>${escapeHtml(row.description)}</td>${row.cells.map((cell, i) => `<td class="${cell}" data-stage="${STAGES[i]}" data-cell="${cell}">${escapeHtml(words[cell])}</td>`).join('')}</tr>`),
    '</tbody>',
    '</table>',
  ];
  return [{
    id: 'escapes',
    blocks: [],
    html,
    matrix: { stages: STAGES, rows: rows.map((row) => ({ attack: row.attack, cells: row.cells })) },
    functions: [],
    caption: 'escapes/expected · each cell measured by make escapes, and asserted by the suite',
  }];
}

// The generated slides a marker asks for (in the deck of LANG, with its
// settings).
export function generate(marker, lang = 'en', settings = {}) {
  const [kind, ...args] = marker.trim().split(/\s+/);
  switch (kind) {
    case 'diff':
      if (args.length !== 2) break;
      return diffSlides(args[0], args[1]);
    case 'code':
      if (args.length < 2) break;
      return codeSlides(args[0], args.slice(1));
    case 'tryit':
      if (args.length < 2 || !args.slice(1).every((arg) => /^[1-9][0-9]*$/.test(arg))) break;
      return tryitSlide(args[0], args.slice(1).map(Number));
    case 'escapes':
      if (args.length !== 0) break;
      return escapesSlide(lang, settings);
  }
  throw new Error(`bad marker '<!-- generated: ${marker} -->' (diff FROM TO, code STAGE FUNCTION..., tryit STAGE N..., escapes)`);
}

const MARKER = /<!--\s*generated:\s*([^>]*?)\s*-->/;
const DECK_SETTING = /^<!--\s*deck-([a-z0-9_-]+):\s*([\s\S]*?)\s*-->$/;

// The slides of a Marp markdown text, split at the "---" lines outside code
// fences, after its front matter: { frontMatter, slides: [[line...]...] }.
function splitDeck(text) {
  const lines = text.replace(/\n$/, '').split('\n');
  if (lines[0] !== '---') throw new Error('the deck must start with front matter (---)');
  const frontEnd = lines.indexOf('---', 1);
  const slides = [[]];
  let fence = false;
  for (const line of lines.slice(frontEnd + 1)) {
    if (/^```/.test(line)) fence = !fence;
    if (!fence && line === '---') slides.push([]);
    else slides.at(-1).push(line);
  }
  return { frontMatter: lines.slice(0, frontEnd + 1), slides };
}

// The HTML comments and other lines of a slide, a comment being one item even
// when it spans lines.
function items(slideLines) {
  const out = [];
  let comment = null;
  for (const line of slideLines) {
    if (comment !== null) {
      comment += '\n' + line;
      if (line.includes('-->')) { out.push({ comment }); comment = null; }
    } else if (line.trim().startsWith('<!--') && !line.includes('-->')) {
      comment = line;
    } else if (/^\s*<!--[\s\S]*-->\s*$/.test(line)) {
      out.push({ comment: line.trim() });
    } else {
      out.push({ line });
    }
  }
  if (comment !== null) throw new Error(`an HTML comment is never closed: ${comment.split('\n')[0]}`);
  return out;
}

function escapeHtml(text) {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

// An SVG diagram, its labels in LANG: every <text> or <tspan> without
// class="code" is prose, translated by slides/img/LANG.json; a label with
// no translation is an error. Code labels (paths, PIDs, calls) stay as they are.
export function diagram(file, lang) {
  let svg = readFileSync(join(SLIDES_DIR, file), 'utf8');
  if (lang === 'en') return svg;
  const table = JSON.parse(readFileSync(join(SLIDES_DIR, 'img', `${lang}.json`), 'utf8'));
  const missing = [];
  svg = svg.replace(/<(text|tspan)\b([^>]*)>([^<]+)<\/\1>/g, (whole, tag, attributes, label) => {
    if (/\bclass="[^"]*\bcode\b/.test(attributes) || label.trim() === '') return whole;
    const translated = table[label.trim()];
    if (translated === undefined) {
      missing.push(label.trim());
      return whole;
    }
    return `<${tag}${attributes}>${translated}</${tag}>`;
  });
  if (missing.length > 0) {
    throw new Error(`${file}: no ${lang} translation in slides/img/${lang}.json for: ${missing.map((label) => JSON.stringify(label)).join(', ')}`);
  }
  return svg;
}

// The deck of LANG as Marp markdown, its generated slides made from the
// sources now and its diagrams inlined (the HTML works offline):
// { markdown, fragments: [{ id, language, lines }] }.
export function assemble(lang) {
  const source = readFileSync(join(SLIDES_DIR, `${lang}.md`), 'utf8');
  const { frontMatter, slides } = splitDeck(source);
  const settings = {};
  const fragments = [];
  const out = [];

  for (const slide of slides) {
    const parts = items(slide).filter((item) => {
      const setting = item.comment?.match(DECK_SETTING);
      if (setting) settings[setting[1]] = setting[2];
      return !setting;
    });
    const marker = parts.find((item) => item.comment && MARKER.test(item.comment));
    if (!marker) {
      out.push(parts.map((item) => item.comment ?? inlineImages(item.line, lang)).join('\n'));
      continue;
    }
    const heading = parts.find((item) => item.line !== undefined && /^#{1,3} /.test(item.line))?.line;
    if (!heading) throw new Error(`${lang}.md: the slide of ${marker.comment} has no heading`);
    const notes = parts.filter((item) => item.comment && item !== marker && !/^<!--\s*_?[a-z]+:/.test(item.comment));
    const directives = parts.filter((item) => item.comment && /^<!--\s*_?[a-z]+:/.test(item.comment) && item !== marker);
    const prose = parts
      .filter((item) => item.line !== undefined && item.line !== heading && !/^\*[^*].*\*\s*$/.test(item.line))
      .map((item) => item.line);
    while (prose.length > 0 && prose[0].trim() === '') prose.shift();
    let generated;
    try {
      generated = generate(marker.comment.match(MARKER)[1], lang, settings);
    } catch (error) {
      throw new Error(`${lang}.md: ${error.message}`);
    }
    generated.forEach((fragment, i) => {
      fragments.push(fragment);
      const title = generated.length > 1 ? `${heading} (${i + 1}/${generated.length})` : heading;
      let slideNotes = notes.map((item) => item.comment);
      if (i > 0) {
        const note = settings['continued-note'];
        if (!note) throw new Error(`${lang}.md: no <!-- deck-continued-note: ... --> before the first generated slide`);
        slideNotes = [`<!--\n${note.replace('{functions}', fragment.functions.map((name) => `${name}`).join(', ') || '-')}\n-->`];
      }
      out.push([
        '<!-- _class: code -->',
        ...directives.map((item) => item.comment),
        '',
        title,
        '',
        ...fragment.blocks.flatMap((block) => ['```' + block.language, ...block.lines, '```', '']),
        ...(fragment.html ? [...fragment.html, ''] : []),
        `<p class="source" data-fragment="${fragment.id}">${escapeHtml(fragment.caption)}</p>`,
        '',
        ...(i === 0 ? prose.map((line) => inlineImages(line, lang)) : []),
        '',
        ...slideNotes,
      ].join('\n'));
    });
  }
  return { markdown: `${frontMatter.join('\n')}\n\n${out.join('\n\n---\n\n')}\n`, fragments };
}

// ![alt](img/name.svg) alone on a line becomes an <img> with the diagram as a
// data: URI, its labels in LANG.
function inlineImages(line, lang) {
  const image = line.match(/^!\[([^\]]*)\]\((img\/[A-Za-z0-9_.-]+\.svg)\)\s*$/);
  if (!image) return line;
  const data = Buffer.from(diagram(image[2], lang)).toString('base64');
  return `<p class="picture"><img src="data:image/svg+xml;base64,${data}" alt="${escapeHtml(image[1])}" data-diagram="${image[2]}"></p>`;
}
