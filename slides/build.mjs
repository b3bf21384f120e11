#!/usr/bin/env node
// Build the workshop decks: build/slides/LANG/index.html for each language,
// self-contained (the diagrams are inlined, nothing is fetched), and, with
// Chromium, build/slides/LANG/mini-docker-LANG.pdf. The generated parts are
// made from the stages' sources and READMEs now (see lib.mjs); the
// assembled markdown is kept beside the HTML as deck.md.

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { marpCli } from '@marp-team/marp-cli';
import { KIT, LANGS, SLIDES_DIR, assemble } from './lib.mjs';

const USAGE = `Usage: node slides/build.mjs [--pdf | --no-pdf] [--lang LANG] [--out DIR]
Build build/slides/{en,zh}/index.html from slides/{en,zh}.md and the stages
(--lang: only that language's deck).
--pdf makes the PDFs too (it needs Chromium), --no-pdf never; by default they
are made when /usr/bin/chromium (or $CHROME_PATH) exists.`;

function fail(message, status = 1) {
  console.error(`slides/build.mjs: ${message}`);
  process.exit(status);
}

let pdf = 'auto';
let out = join(KIT, 'build', 'slides');
let langs = LANGS;
const args = process.argv.slice(2);
while (args.length > 0) {
  const arg = args.shift();
  if (arg === '--pdf') pdf = 'yes';
  else if (arg === '--no-pdf') pdf = 'no';
  else if (arg === '--out' && args.length > 0) out = args.shift();
  else if (arg === '--lang' && LANGS.includes(args[0])) langs = [args.shift()];
  else if (arg === '-h' || arg === '--help') {
    console.log(USAGE);
    process.exit(0);
  } else fail(`unknown argument '${arg}'\n${USAGE}`, 2);
}

const browser = process.env.CHROME_PATH || '/usr/bin/chromium';
if (pdf === 'yes' && !existsSync(browser)) {
  fail(`no Chromium at ${browser} for the PDFs (install it with: make slides-deps)`);
}
const withPdf = pdf === 'yes' || (pdf === 'auto' && existsSync(browser));

// marp-cli logs each conversion; say it once, in one line, per file.
async function marp(argv, label) {
  const started = Date.now();
  // No slide transitions: nothing moves on the projector, and screenshots
  // show the slide, not half of two. --theme-set takes a list: it goes
  // last, or it would take the files too.
  const status = await marpCli([...argv, '--no-config-file', '--html', '--bespoke.transition=false', '--theme-set', join(SLIDES_DIR, 'theme.css')], {});
  if (status !== 0) fail(`marp failed (exit status ${status}) making ${label}`);
  if (!existsSync(argv[argv.indexOf('-o') + 1])) fail(`marp made no ${label}`);
  console.log(`slides: ${label} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

for (const lang of langs) {
  let deck;
  try {
    deck = assemble(lang);
  } catch (error) {
    fail(error.message);
  }
  const dir = join(out, lang);
  mkdirSync(dir, { recursive: true });
  const markdown = join(dir, 'deck.md');
  writeFileSync(markdown, deck.markdown);
  writeFileSync(join(dir, 'fragments.json'), JSON.stringify(deck.fragments, null, 1) + '\n');
  await marp([markdown, '-o', join(dir, 'index.html')], `build/slides/${lang}/index.html`);
  if (withPdf) {
    await marp([markdown, '--pdf', '--pdf-notes', '--browser-path', browser, '-o', join(dir, `mini-docker-${lang}.pdf`)],
      `build/slides/${lang}/mini-docker-${lang}.pdf`);
  }
}
