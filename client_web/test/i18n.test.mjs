// The message catalogues: every language has every key (with the plural forms its grammar needs),
// the same {{placeholders}}, no empty text; every key the code asks for exists.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { pickLanguage, LANGUAGES } from "../src/i18n.js";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const SRC = join(root, "src");
const PLURALS = ["zero", "one", "two", "few", "many", "other"];

function catalogue(code) {
  return JSON.parse(readFileSync(join(SRC, "locales", `${code}.json`), "utf8"));
}

function flatten(obj, prefix = "", out = new Map()) {
  for (const [key, value] of Object.entries(obj)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (value && typeof value === "object") flatten(value, path, out);
    else out.set(path, value);
  }
  return out;
}

/** "a.b_one" -> ["a.b", "one"]; "a.b" -> ["a.b", null]. */
function pluralOf(key) {
  const m = /^(.*)_(zero|one|two|few|many|other)$/.exec(key);
  return m ? [m[1], m[2]] : [key, null];
}

const placeholders = (text) => new Set([...String(text).matchAll(/\{\{\s*([\w.]+)\s*\}\}/g)].map((m) => m[1]));

function sourceFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === "locales" ? [] : sourceFiles(path);
    return name.endsWith(".js") ? [path] : [];
  });
}

const en = flatten(catalogue("en"));
const enBases = new Map(); // base key -> {plural: bool, sample text}
for (const [key, text] of en) {
  const [base, form] = pluralOf(key);
  if (!enBases.has(base) || form === "other") enBases.set(base, { plural: Boolean(form), text });
}

test("the language is the saved one, else the browser's, else English", () => {
  assert.equal(pickLanguage("ko", ["en-US"]), "ko");
  assert.equal(pickLanguage("", ["pt-BR", "en"]), "pt");
  assert.equal(pickLanguage("de", ["de-DE", "fr-CA"]), "fr");
  assert.equal(pickLanguage("", ["de-DE"]), "en");
  assert.deepEqual(LANGUAGES.map((l) => l.code), ["en", "ko", "es", "pt", "fr"]);
});

for (const { code } of LANGUAGES) {
  test(`the ${code} catalogue has every key, its plural forms and placeholders`, () => {
    const entries = flatten(catalogue(code));
    const categories = new Intl.PluralRules(code).resolvedOptions().pluralCategories;
    const needed = categories.filter((c) => c === "one" || c === "other"); // "many" falls back to "other"
    const missing = [];
    const wrong = [];
    for (const [base, { plural, text }] of enBases) {
      const forms = plural ? needed.map((c) => `${base}_${c}`) : [base];
      for (const key of forms) {
        if (!entries.has(key)) missing.push(key);
        else if (typeof entries.get(key) !== "string" || !entries.get(key).trim()) wrong.push(`${key}: empty`);
        else {
          const want = placeholders(text);
          const have = placeholders(entries.get(key));
          // A singular may spell "1" out ("one minute") instead of {{count}}.
          const ignore = plural && key.endsWith("_one") ? new Set(["count"]) : new Set();
          for (const p of want) if (!have.has(p) && !ignore.has(p)) wrong.push(`${key}: lacks {{${p}}}`);
          for (const p of have) if (!want.has(p)) wrong.push(`${key}: has unknown {{${p}}}`);
        }
      }
    }
    const extra = [...entries.keys()].filter((key) => {
      const [base, form] = pluralOf(key);
      return !enBases.has(base) || (form && !PLURALS.includes(form));
    });
    assert.deepEqual(missing, [], `${code}: missing keys`);
    assert.deepEqual(wrong, [], `${code}: bad texts`);
    assert.deepEqual(extra, [], `${code}: keys English does not have`);
  });
}

test("every key the code asks for is in the catalogue", () => {
  const unknown = [];
  for (const file of sourceFiles(SRC)) {
    const text = readFileSync(file, "utf8");
    for (const m of text.matchAll(/\bt\(\s*(["'])([A-Za-z0-9_.]+)\1/g)) {
      if (!enBases.has(m[2]) && !en.has(m[2])) unknown.push(`${file.slice(SRC.length + 1)}: ${m[2]}`);
    }
  }
  assert.deepEqual(unknown, []);
});

// A button's accessible name must contain its visible text (WCAG 2.5.3; axe: label-content-name-mismatch),
// in every language: the short text under an icon and the longer name for screen readers.
const LABEL_PAIRS = [
  ["controls.mute", "controls.muteLabel"], ["controls.unmute", "controls.unmuteLabel"],
  ["controls.stopVideo", "controls.stopVideoLabel"], ["controls.startVideo", "controls.startVideoLabel"],
  ["controls.share", "controls.shareLabel"], ["controls.stopShare", "controls.stopShareLabel"],
  ["controls.raise", "controls.raiseLabel"], ["controls.lower", "controls.lowerLabel"],
  ["controls.react", "controls.reactLabel"], ["controls.host", "controls.hostLabel"],
  ["controls.more", "controls.moreLabel"], ["controls.leave", "controls.leaveLabel"],
  ["settings.short", "settings.label"],
];

for (const { code } of LANGUAGES) {
  test(`${code}: every button's name contains its visible text`, () => {
    const entries = flatten(catalogue(code));
    const bad = LABEL_PAIRS.filter(([text, label]) => entries.has(text) && entries.has(label)
      && !entries.get(label).toLocaleLowerCase(code).includes(entries.get(text).toLocaleLowerCase(code)))
      .map(([text, label]) => `${label} "${entries.get(label)}" lacks "${entries.get(text)}"`);
    assert.deepEqual(bad, []);
  });
}
