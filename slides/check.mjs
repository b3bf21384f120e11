#!/usr/bin/env node
// Check the built decks (node slides/build.mjs first) in headless Chromium,
// as a room would see them:
//
// - what the generated slides show is what the sources say now, found here
//   without slides/lib.mjs: each diff slide's + and - lines are lines that
//   `diff -u` of the two stages' container.c adds and removes, in order, and
//   every changed line of code above the line that starts the shared part
//   (/*** below: the same in every stage ***/) is shown; each code slide's
//   lines are the function's lines in the .c file, all of them; each try-it
//   slide's blocks are the README's console blocks, as they are; the
//   escape matrix has a row per attack of escapes/expected and a column per
//   stage, each cell "escaped" before the attack's first stage and
//   "blocked" from it on, red and green;
// - the plan's table (the slide whose table's first column names stages)
//   names every stage, in order;
// - the rendered decks are what slides/lib.mjs makes now (a deck built
//   before a source changed fails here), in the same order in both
//   languages, and every code block on a slide is a generated one (so every
//   command and output shown is one tests/tryit runs);
// - every slide has speaker notes;
// - no slide's content overflows its slide, and no line of code its box;
// - every image loads, and the page loads nothing from the network;
// - the Chinese deck's text is drawn with a CJK font, not as empty boxes;
// - a screenshot of the title slide, of each stage's (first) diff slide,
//   or code slide for stage 01, and of the escape matrix is written to
//   build/slides/shots/, and none is blank.
//
// Chromium is Debian's /usr/bin/chromium (or $CHROME_PATH), driven by
// playwright-core, which never downloads a browser of its own.

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, existsSync, readdirSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { KIT, LANGS, SHARED_BANNER, assemble } from './lib.mjs';

const USAGE = `Usage: node slides/check.mjs [--lang LANG]
Check build/slides/{en,zh}/index.html in headless Chromium (build them first
with: node slides/build.mjs). Screenshots go to build/slides/shots/.`;

const out = join(KIT, 'build', 'slides');
const shots = join(out, 'shots');
let langs = LANGS;
const args = process.argv.slice(2);
while (args.length > 0) {
  const arg = args.shift();
  if (arg === '--lang' && LANGS.includes(args[0])) langs = [args.shift()];
  else if (arg === '-h' || arg === '--help') {
    console.log(USAGE);
    process.exit(0);
  } else {
    console.error(`slides/check.mjs: unknown argument '${arg}'\n${USAGE}`);
    process.exit(2);
  }
}

const problems = [];
const problem = (message) => {
  problems.push(message);
  console.log(`  FAIL  ${message}`);
};

const browserPath = process.env.CHROME_PATH || '/usr/bin/chromium';
if (!existsSync(browserPath)) {
  console.error(`slides/check.mjs: no Chromium at ${browserPath} (install it with: make slides-deps)`);
  process.exit(1);
}

// What the generated slides must show now, from the sources.
const expected = {};
for (const lang of langs) {
  try {
    expected[lang] = assemble(lang).fragments;
  } catch (error) {
    console.error(`slides/check.mjs: ${error.message}`);
    process.exit(1);
  }
}
if (langs.length === LANGS.length) {
  const ids = LANGS.map((lang) => expected[lang].map((fragment) => fragment.id).join(' '));
  if (ids.some((list) => list !== ids[0])) {
    problem(`the decks do not show the same generated slides in the same order:\n${LANGS.map((lang, i) => `    ${lang}: ${ids[i]}`).join('\n')}`);
  }
}

// What the sources say, read here without lib.mjs, so that a slide that
// is stale, or a lib.mjs that shows the wrong thing, is found.
const norm = (text) => text.replace(/\s+/g, ' ').trim();
const sourceLines = (path) => readFileSync(join(KIT, path), 'utf8').replace(/\n$/, '').split('\n');
const isCommentLine = (text) => /^(?:\/\*|\*|\/\/)/.test(text.trim());
const isPlumbingLine = (text) => /^#(?:include\b|define _GNU_SOURCE\b|define STAGE\b)/.test(text);
// The stages, as the Makefile finds them: stages/NN-name/container.c.
const stageNames = readdirSync(join(KIT, 'stages'))
  .filter((name) => /^[0-9][0-9]-/.test(name) && existsSync(join(KIT, 'stages', name, 'container.c')))
  .sort();

// The escape matrix escapes/expected asks for, with a column per stage:
// { stages, rows: [{ attack, cells: ['escaped' | 'blocked', ...] }] }. A
// line is "ID FIRST description" ("#" comments): the attack is blocked by
// the stages numbered FIRST and up ("-": by none).
function expectedMatrix() {
  const rows = [];
  for (const text of sourceLines('escapes/expected')) {
    const fields = text.replace(/#.*/, '').trim().split(/\s+/);
    if (fields.length < 3) continue;
    const [attack, first] = fields;
    const number = first === '-' ? '~' : first;
    rows.push({ attack, cells: stageNames.map((stage) => (stage.slice(0, 2) < number ? 'escaped' : 'blocked')) });
  }
  return { stages: stageNames, rows };
}

// The lines `diff -u FROM TO` adds (+) and removes (-): { '+': [...], '-':
// [...] }, each { text, number } with its line number in its file.
function changedLines(fromPath, toPath) {
  let output;
  try {
    output = execFileSync('diff', ['-u', join(KIT, fromPath), join(KIT, toPath)], { encoding: 'utf8' });
  } catch (error) {
    if (error.status !== 1) throw error; // 1 means: they differ
    output = error.stdout;
  }
  const changed = { '+': [], '-': [] };
  let oldNumber = 0;
  let newNumber = 0;
  for (const line of output.split('\n').slice(2)) {
    const header = line.match(/^@@ -(\d+)(?:,\d+)? \+(\d+)/);
    if (header) [oldNumber, newNumber] = [Number(header[1]), Number(header[2])];
    else if (line[0] === '-') changed['-'].push({ text: line.slice(1), number: oldNumber++ });
    else if (line[0] === '+') changed['+'].push({ text: line.slice(1), number: newNumber++ });
    else if (line[0] === ' ') [oldNumber, newNumber] = [oldNumber + 1, newNumber + 1];
  }
  return changed;
}

// Match PIECES (the lines shown, a long line wrapped into several) in order
// against LINES ([{ text }]): each piece is the next line that equals it, or
// else contains it. Returns the pieces each line got, or the first piece
// that is not there.
function matchInOrder(pieces, lines) {
  const got = new Map();
  let at = 0;
  for (const piece of pieces) {
    const text = norm(piece);
    if (text === '') continue;
    let found = lines.findIndex((line, i) => i >= at && norm(line.text) === text);
    if (found === -1) found = lines.findIndex((line, i) => i >= at && norm(line.text).includes(text));
    if (found === -1) return { missing: piece };
    at = found;
    got.set(lines[found], [...(got.get(lines[found]) || []), text]);
  }
  return { got };
}
const shownWhole = (got, line) => norm((got.get(line) || []).join(' ')) === norm(line.text);

// The problems of one group of generated slides (those with one caption but
// for its "· i/n"): the lines of their code blocks, against the sources.
function sourceProblems(where, caption, blocks, matrix) {
  const problems = [];
  const stale = `: rebuild with node slides/build.mjs, or fix slides/lib.mjs`;
  let match;
  if (/^escapes\/expected · /.test(caption)) {
    const want = expectedMatrix();
    if (!matrix) return [`${where}: no escape matrix (a table with data-escapes) on the slide${stale}`];
    if (JSON.stringify(matrix.stages) !== JSON.stringify(want.stages)) {
      problems.push(`${where}: the matrix's columns are ${matrix.stages.join(' ')}, the stages ${want.stages.join(' ')}${stale}`);
    }
    const shownRows = matrix.rows.map((row) => `${row.attack}: ${row.cells.join(' ')}`);
    const wantRows = want.rows.map((row) => `${row.attack}: ${row.cells.join(' ')}`);
    if (JSON.stringify(shownRows) !== JSON.stringify(wantRows)) {
      problems.push(`${where}: the matrix shows\n      ${shownRows.join('\n      ')}\n    where escapes/expected says\n      ${wantRows.join('\n      ')}${stale}`);
    }
    // Red and green, one word each.
    for (const cell of ['escaped', 'blocked']) {
      const looks = new Set(matrix.rows.flatMap((row) => row.looks.filter((look) => look.cell === cell).map((look) => `${look.text} ${look.background}`)));
      if (looks.size > 1) problems.push(`${where}: the "${cell}" cells do not all look the same: ${[...looks].join('; ')}`);
      for (const look of looks) {
        const [red, green] = (look.match(/rgba?\((\d+), (\d+)/) || []).slice(1).map(Number);
        if (red === undefined || (cell === 'escaped' ? red <= green : green <= red)) {
          problems.push(`${where}: the "${cell}" cells are not ${cell === 'escaped' ? 'red' : 'green'}: ${look}`);
        }
      }
    }
  } else if ((match = caption.match(/^diff -U2 (stages\/[^ ]+\/container\.c) (stages\/[^ ]+\/container\.c)$/))) {
    const [, fromPath, toPath] = match;
    const changed = changedLines(fromPath, toPath);
    const toLines = new Set(sourceLines(toPath).map(norm));
    const pieces = { '+': [], '-': [] };
    for (const line of blocks.flatMap((block) => block.split('\n'))) {
      if (line.startsWith('@@')) {
        const context = norm(line.slice(2));
        if (context !== '' && context !== '…' && !toLines.has(context)) problems.push(`${where}: the heading "${line}" is no line of ${toPath}${stale}`);
      } else if (line[0] === ' ') {
        if (norm(line) !== '' && ![...toLines].some((text) => text.includes(norm(line)))) {
          problems.push(`${where}: the unchanged line "${line}" is not in ${toPath}${stale}`);
        }
      } else if (line[0] === '+' || line[0] === '-') {
        pieces[line[0]].push(line.slice(1));
      } else {
        problems.push(`${where}: "${line}" is no line of a diff`);
      }
    }
    const shared = { '-': sourceLines(fromPath).indexOf(SHARED_BANNER) + 1, '+': sourceLines(toPath).indexOf(SHARED_BANNER) + 1 };
    for (const sign of ['+', '-']) {
      const { got, missing } = matchInOrder(pieces[sign], changed[sign]);
      if (missing !== undefined) {
        problems.push(`${where}: "${sign}${missing}" is not a line that diff -u ${fromPath} ${toPath} ${sign === '+' ? 'adds' : 'removes'}, in this order${stale}`);
        continue;
      }
      // The lesson is above the banner: each changed line of code there is
      // shown (the header comment and the #includes are said elsewhere).
      if (shared['+'] === 0 || shared['-'] === 0) continue;
      for (const line of changed[sign]) {
        // (A line of punctuation alone, such as "}", the two diffs may pair
        // differently: a word is needed.)
        if (line.number >= shared[sign] || !/\w/.test(line.text) || isCommentLine(line.text) || isPlumbingLine(line.text)) continue;
        if (!shownWhole(got, line)) {
          problems.push(`${where}: diff -u ${fromPath} ${toPath} ${sign === '+' ? 'adds' : 'removes'} line ${line.number}, "${line.text.trim()}", and the slides do not show it${stale}`);
        }
      }
    }
  } else if ((match = caption.match(/^(stages\/[^ ]+\/container\.c): ((?:\w+\(\)(?:, )?)+)$/))) {
    const path = match[1];
    const lines = sourceLines(path).map((text) => ({ text }));
    const pieces = blocks.flatMap((block) => block.split('\n')).filter((line) => !/^\/\* \w+\(\), continued \*\/$/.test(line));
    const { got, missing } = matchInOrder(pieces, lines);
    if (missing !== undefined) return [`${where}: "${missing}" is not a line of ${path}, in this order${stale}`];
    for (const name of match[2].split(', ').map((call) => call.slice(0, -2))) {
      const head = lines.findIndex(({ text }) => new RegExp(`^[A-Za-z_].*\\b${name}\\(`).test(text) && !text.endsWith(';'));
      const end = lines.findIndex(({ text }, i) => i > head && text === '}');
      if (head === -1 || end === -1) {
        problems.push(`${where}: ${path} has no function ${name}()`);
        continue;
      }
      for (const line of lines.slice(head, end + 1)) {
        if (line.text.trim() !== '' && !shownWhole(got, line)) {
          problems.push(`${where}: ${name}() in ${path} has the line "${line.text.trim()}", and the slides do not show it${stale}`);
          break;
        }
      }
    }
  } else if ((match = caption.match(/^(stages\/[^ ]+\/README\.md), blocks? ([\d, ]+?)(?: \(.*\))? · run by tests\/tryit$/))) {
    const path = match[1];
    const consoleBlocks = [];
    let open = null;
    for (const line of sourceLines(path)) {
      if (open === null && /^```console\b/.test(line)) open = [];
      else if (open !== null && line === '```') {
        consoleBlocks.push(open.join('\n'));
        open = null;
      } else if (open !== null) open.push(line);
    }
    const want = match[2].split(', ').map((number) => consoleBlocks[Number(number) - 1]);
    if (JSON.stringify(want) !== JSON.stringify(blocks)) {
      problems.push(`${where}: its blocks are not console blocks ${match[2]} of ${path} as they are${stale}`);
    }
  } else {
    problems.push(`${where}: the caption "${caption}" names no source this check knows`);
  }
  return problems;
}

mkdirSync(shots, { recursive: true });
for (const file of readdirSync(shots)) if (file.endsWith('.png')) unlinkSync(join(shots, file));

// A fresh profile every run, removed at the end.
const profile = mkdtempSync(join(tmpdir(), 'minidocker-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: browserPath,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  viewport: { width: 1280, height: 720 },
  deviceScaleFactor: 1,
  offline: true,
});

// Is a PNG blank? Drawn on a canvas, the share of pixels that differ from
// the most common colour: a slide with text has a few percent at least.
async function inkShare(page, png) {
  return page.evaluate(async (data) => {
    const image = new Image();
    image.src = `data:image/png;base64,${data}`;
    await image.decode();
    const canvas = document.createElement('canvas');
    canvas.width = image.width;
    canvas.height = image.height;
    const context2d = canvas.getContext('2d');
    context2d.drawImage(image, 0, 0);
    const pixels = context2d.getImageData(0, 0, canvas.width, canvas.height).data;
    const counts = new Map();
    for (let i = 0; i < pixels.length; i += 4) {
      const key = (pixels[i] >> 3) << 10 | (pixels[i + 1] >> 3) << 5 | (pixels[i + 2] >> 3);
      counts.set(key, (counts.get(key) || 0) + 1);
    }
    const most = Math.max(...counts.values());
    return 1 - most / (pixels.length / 4);
  }, png.toString('base64'));
}

const shotList = [];
try {
  for (const lang of langs) {
    const html = join(out, lang, 'index.html');
    if (!existsSync(html)) {
      problem(`${lang}: ${html} is missing (build it with: node slides/build.mjs)`);
      continue;
    }
    const page = await context.newPage();
    const requests = [];
    page.on('request', (request) => {
      const url = request.url();
      if (!url.startsWith('file:') && !url.startsWith('data:')) requests.push(url);
    });
    const errors = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(pathToFileURL(html).href, { waitUntil: 'load' });
    await page.evaluate(() => document.fonts.ready);

    // Every slide laid out at once, to measure them all.
    const allVisible = await page.addStyleTag({ content: 'svg.bespoke-marp-slide { content-visibility: visible !important; }' });
    const report = await page.evaluate(() => {
      const sections = [...document.querySelectorAll('svg.bespoke-marp-slide > foreignObject > section')];
      const notes = new Map([...document.querySelectorAll('.bespoke-marp-note')]
        .map((note) => [Number(note.dataset.index), note.textContent.trim()]));
      return sections.map((section, index) => {
        const box = section.getBoundingClientRect();
        const scale = box.width / section.offsetWidth;
        const overflows = [];
        for (const element of section.querySelectorAll('*')) {
          const rect = element.getBoundingClientRect();
          if (rect.width === 0 && rect.height === 0) continue;
          const past = Math.max(rect.right - box.right, rect.bottom - box.bottom, box.left - rect.left, box.top - rect.top) / scale;
          if (past > 1) overflows.push(`<${element.tagName.toLowerCase()}> "${element.textContent.trim().slice(0, 50)}" by ${Math.round(past)} px`);
          if (element.tagName === 'PRE' && (element.scrollWidth > element.clientWidth + 1 || element.scrollHeight > element.clientHeight + 1)) {
            overflows.push(`a code block's text, by ${element.scrollWidth - element.clientWidth} px across and ${element.scrollHeight - element.clientHeight} px down`);
          }
        }
        const images = [...section.querySelectorAll('img')].map((image) => ({
          name: image.dataset.diagram || image.alt,
          loaded: image.complete && image.naturalWidth > 0,
        }));
        const source = section.querySelector('p.source[data-fragment]');
        const escapes = section.querySelector('table[data-escapes]');
        const matrix = escapes && {
          stages: [...escapes.querySelectorAll('th[data-stage]')].map((th) => th.dataset.stage),
          rows: [...escapes.querySelectorAll('tr[data-attack]')].map((tr) => {
            const cells = [...tr.querySelectorAll('td[data-cell]')];
            return {
              attack: tr.dataset.attack,
              cells: cells.map((td) => td.dataset.cell),
              looks: cells.map((td) => ({ cell: td.dataset.cell, text: td.textContent.trim(), background: getComputedStyle(td).backgroundColor })),
            };
          }),
        };
        return {
          index,
          title: (section.querySelector('h1, h2')?.textContent || '').trim(),
          lead: section.classList.contains('lead'),
          overflows,
          images,
          note: notes.get(index) || '',
          fragment: source ? source.dataset.fragment : null,
          caption: source ? source.textContent.trim() : '',
          blocks: [...section.querySelectorAll('pre')].map((pre) => pre.textContent.replace(/\n$/, '')),
          matrix,
          // The first column of each other table.
          tables: [...section.querySelectorAll('table:not([data-escapes])')]
            .map((table) => [...table.querySelectorAll('tbody tr')].map((tr) => (tr.cells[0]?.textContent || '').trim())),
        };
      });
    });

    const fragments = expected[lang];
    const shown = report.filter((slide) => slide.fragment);
    console.log(`${lang}: ${report.length} slides, ${shown.length} of them generated`);
    for (const slide of report) {
      const where = `${lang} slide ${slide.index + 1} (${slide.title || 'untitled'})`;
      for (const overflow of slide.overflows) problem(`${where}: overflows: ${overflow}`);
      for (const image of slide.images) if (!image.loaded) problem(`${where}: the image ${image.name} does not load`);
      if (!slide.note) problem(`${where}: no speaker notes`);
      if (slide.blocks.length > 0 && !slide.fragment) problem(`${where}: a code block that is not generated (only generated code and try-it blocks may be shown)`);
    }
    if (shown.length !== fragments.length) {
      problem(`${lang}: ${shown.length} generated slides, but the sources make ${fragments.length}: rebuild with node slides/build.mjs`);
    }
    fragments.forEach((fragment, i) => {
      const slide = shown[i];
      if (!slide) return;
      const want = fragment.blocks.map((block) => block.lines.join('\n'));
      const cells = (matrix) => (matrix ? { stages: matrix.stages, rows: matrix.rows.map(({ attack, cells }) => ({ attack, cells })) } : null);
      if (slide.fragment !== fragment.id || JSON.stringify(slide.blocks) !== JSON.stringify(want) ||
          JSON.stringify(cells(slide.matrix)) !== JSON.stringify(cells(fragment.matrix))) {
        problem(slide.fragment === fragment.id
          ? `${lang} slide ${slide.index + 1}: its ${fragment.id} is not what the sources make now: rebuild with node slides/build.mjs`
          : `${lang} slide ${slide.index + 1}: shows ${slide.fragment} where the sources make ${fragment.id}: rebuild with node slides/build.mjs`);
      }
    });
    // The same slides, against the sources themselves.
    const groups = new Map();
    for (const slide of shown) {
      const caption = slide.caption.replace(/ · \d+\/\d+$/, '');
      if (!groups.has(caption)) groups.set(caption, { first: slide, blocks: [] });
      groups.get(caption).blocks.push(...slide.blocks);
    }
    for (const [caption, group] of groups) {
      for (const message of sourceProblems(`${lang} slide ${group.first.index + 1} (${group.first.fragment})`, caption, group.blocks, group.first.matrix)) problem(message);
    }
    // The plan: a table whose first column names stages names them all.
    const namesStages = (column) => column.length > 0 && column.every((name) => /^[0-9][0-9]-[a-z0-9-]+$/.test(name));
    const plans = report.filter((slide) => slide.tables.some(namesStages));
    if (plans.length === 0) problem(`${lang}: no slide has the plan's table (a first column of stage names)`);
    for (const slide of plans) {
      for (const column of slide.tables.filter(namesStages)) {
        if (column.join(' ') !== stageNames.join(' ')) {
          problem(`${lang} slide ${slide.index + 1} (${slide.title}): its table names the stages ${column.join(' ')}, but the stages are ${stageNames.join(' ')}: a row for each, in ${lang}.md`);
        }
      }
    }
    if (requests.length > 0) problem(`${lang}: the deck asks the network for ${requests.slice(0, 3).join(', ')}: it must work offline`);
    if (errors.length > 0) problem(`${lang}: JavaScript errors: ${errors.join('; ')}`);

    if (lang === 'zh') {
      // Drawn in the deck's own font, two different ideographs look the
      // same only when both are the "no glyph" box.
      const distinct = await page.evaluate(() => {
        const font = getComputedStyle(document.querySelector('section')).fontFamily;
        const draw = (text) => {
          const canvas = document.createElement('canvas');
          canvas.width = 64;
          canvas.height = 64;
          const context2d = canvas.getContext('2d');
          context2d.font = `48px ${font}`;
          context2d.fillText(text, 4, 52);
          return context2d.getImageData(0, 0, 64, 64).data.join(',');
        };
        return draw('容') !== draw('器') && draw('容') !== draw('\u{10FFFD}');
      });
      if (!distinct) problem('zh: Chinese characters are drawn as empty boxes: install a CJK font (make slides-deps installs fonts-noto-cjk)');
    }

    // Screenshots: the title slide, and each stage's first diff (or code)
    // slide, without the viewer's on-screen buttons.
    await allVisible.evaluate((style) => style.remove());
    await page.addStyleTag({ content: '.bespoke-marp-osc { display: none !important; }' });
    const wanted = [{ index: 0, name: `${lang}-01-title` }];
    const stagesShot = new Set();
    for (const slide of shown) {
      // diff-01-02-1 is stage 02's first diff slide; code-01-1 stage 01's.
      const stage = slide.fragment.match(/^(?:diff-\d\d-(\d\d)|code-(\d\d))-/);
      if (slide.fragment === 'escapes') {
        wanted.push({ index: slide.index, name: `${lang}-${String(slide.index + 1).padStart(2, '0')}-escapes` });
      } else if (stage && !stagesShot.has(stage[1] || stage[2])) {
        stagesShot.add(stage[1] || stage[2]);
        wanted.push({ index: slide.index, name: `${lang}-${String(slide.index + 1).padStart(2, '0')}-${slide.fragment}` });
      }
    }
    for (const { index, name } of wanted) {
      await page.evaluate((number) => { location.hash = `#${number}`; }, index + 1);
      await page.waitForFunction((i) => {
        const active = document.querySelector('svg.bespoke-marp-slide.bespoke-marp-active');
        return active && [...document.querySelectorAll('svg.bespoke-marp-slide')].indexOf(active) === i;
      }, index);
      await page.waitForTimeout(50);
      const file = join(shots, `${name}.png`);
      const png = await page.screenshot({ path: file });
      const ink = await inkShare(page, png);
      shotList.push(`build/slides/shots/${name}.png`);
      if (ink < 0.01) problem(`${file}: blank (only ${(ink * 100).toFixed(2)}% of its pixels are not the background)`);
    }
    await page.close();
  }
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}

console.log(`screenshots: ${shotList.length} in build/slides/shots/`);
if (problems.length > 0) {
  console.log(`slides-check: ${problems.length} problem(s)`);
  process.exit(1);
}
console.log(`slides-check: ${langs.length === 1 ? 'the deck renders, fits, loads' : 'both decks render, fit, load'} offline, and show${langs.length === 1 ? 's' : ''} what the sources say now`);
