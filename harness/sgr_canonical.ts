/**
 * Text with SGR escape sequences in one canonical form, for comparing what a
 * real terminal holds (tmux `capture-pane -e`, which spells SGRs its own way
 * and relative to the previous cell) with what was written to it.
 * @module
 */

/** A rendition: attribute names, colours as `pN` (palette) or `#r,g,b` ("" = default). */
interface Style {
  attrs: Set<string>;
  fg: string;
  bg: string;
}

/** SGR attribute numbers to names. */
const ATTRS: Record<number, string> = {
  1: "bold",
  2: "faint",
  3: "italic",
  4: "under",
  5: "blink",
  7: "inverse",
  8: "hidden",
};
/** SGR numbers that turn attributes off. */
const ATTRS_OFF: Record<number, string[]> = {
  22: ["bold", "faint"],
  23: ["italic"],
  24: ["under"],
  25: ["blink"],
  27: ["inverse"],
  28: ["hidden"],
};

/** A colour from SGR parameters at `i` (after 38/48): [name, parameters used]. */
function extendedColor(p: number[], i: number): [string, number] {
  if (p[i] === 5) return [`p${p[i + 1]}`, 2];
  return [`#${p[i + 1]},${p[i + 2]},${p[i + 3]}`, 4];
}

/** The style after SGR parameters `params` (from the style `style`). */
function applySgr(style: Style, params: string): Style {
  const p = params === "" ? [0] : params.split(";").map(Number);
  let { attrs, fg, bg } = style;
  for (let i = 0; i < p.length; i++) {
    const n = p[i];
    if (n === 0) [attrs, fg, bg] = [new Set(), "", ""];
    else if (ATTRS[n]) attrs = new Set([...attrs, ATTRS[n]]);
    else if (ATTRS_OFF[n]) {
      attrs = new Set([...attrs].filter((a) => !ATTRS_OFF[n].includes(a)));
    } else if (n >= 30 && n <= 37) fg = `p${n - 30}`;
    else if (n >= 90 && n <= 97) fg = `p${n - 82}`;
    else if (n >= 40 && n <= 47) bg = `p${n - 40}`;
    else if (n >= 100 && n <= 107) bg = `p${n - 92}`;
    else if (n === 39) fg = "";
    else if (n === 49) bg = "";
    else if (n === 38 || n === 48) {
      const [color, used] = extendedColor(p, i + 1);
      if (n === 38) fg = color;
      else bg = color;
      i += used;
    }
  }
  return { attrs, fg, bg };
}

/**
 * Text with SGRs as lines of `{attributes/foreground/background}text` runs,
 * however the SGRs were spelled; trailing spaces that show nothing dropped.
 */
export function canonicalLines(stream: string): string[] {
  const lines: string[] = [];
  let style: Style = { attrs: new Set(), fg: "", bg: "" };
  /** Each character, its style key, and whether it is a space that shows nothing. */
  let chars: [string, string, boolean][] = [];
  const endLine = () => {
    while (chars.length > 0 && chars[chars.length - 1][2]) chars.pop();
    let line = "", key = "{//}";
    for (const [ch, k] of chars) {
      if (k !== key) line += k;
      line += ch;
      key = k;
    }
    lines.push(line);
    chars = [];
  };
  for (let i = 0; i < stream.length;) {
    const sgr = /^\x1b\[([0-9;]*)m/.exec(stream.slice(i, i + 64));
    if (sgr) {
      style = applySgr(style, sgr[1]);
      i += sgr[0].length;
      continue;
    }
    const ch = String.fromCodePoint(stream.codePointAt(i)!);
    i += ch.length;
    if (ch === "\n") {
      endLine();
      continue;
    }
    const attrs = [...style.attrs].sort().join(",");
    const blank = ch === " " && attrs === "" && style.bg === "";
    chars.push([ch, `{${attrs}/${style.fg}/${style.bg}}`, blank]);
  }
  if (chars.length > 0 || !stream.endsWith("\n")) endLine();
  return lines;
}

/** One line of SGR text in canonical form. */
export function canonical(text: string): string {
  return canonicalLines(text)[0];
}
