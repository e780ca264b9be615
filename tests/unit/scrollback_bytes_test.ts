/**
 * The client's scrollback writer reads log records in place
 * (protocol/statesync/received_log.ts) and copies plain rows as bytes
 * (client/scrollback.ts): it must write exactly what writing each record's
 * text as a string did, on records of every kind (wrapped lines, styles,
 * wide and combining characters, controls, clears, gaps), and the client's
 * log must keep the numbering through overlaps, holes and trims.
 * @module
 */
import assert from "node:assert/strict";
import { scrollbackBytes } from "../../client/scrollback.ts";
import { ReceivedLog } from "../../protocol/statesync/received_log.ts";
import { BLOCK, GAP } from "../../protocol/protobufs/scroll_records.ts";
import { readScrollSlice } from "../../protocol/protobufs/scroll_messages.ts";
import type { LogRecord } from "../../protocol/statesync/scroll_log.ts";
import { LOG_HELD_BYTES_MAX } from "../../protocol/statesync/constants.ts";
import {
  ATTR_FAINT,
  makeRendition,
  sgrFor,
} from "../../protocol/terminal/framebuffer.ts";
import { wcwidth } from "../../protocol/terminal/wcwidth.ts";
import { BinaryReader, BinaryWriter } from "@bufbuild/protobuf/wire";
import { writeScrollSlice } from "../../protocol/protobufs/scroll_messages.ts";
import { mulberry32 } from "../../harness/prng.ts";

/** The writer as it was, one string per logical line (the reference). */
function stringWriter(
  records: readonly LogRecord[],
  size: { cols: number; rows: number },
): string {
  if (records.length === 0) return "";
  const cols = Math.max(1, size.cols), height = Math.max(1, size.rows);
  const lines: (string | { text: string; count: number } | null)[] = [];
  let joining = false;
  for (const r of records) {
    if (r.kind === "line") {
      if (joining) lines[lines.length - 1] += r.text;
      else lines.push(r.text);
      joining = r.wrap;
      continue;
    }
    if (r.kind === "block") {
      const text = new TextDecoder("latin1").decode(r.bytes);
      lines.push({ text, count: r.lines });
      joining = false;
      continue;
    }
    lines.push(
      r.kind === "clear"
        ? null
        : `${
          sgrFor(makeRendition(ATTR_FAINT, 0, 0))
        }[tmosh: ${r.lines} lines not delivered]\x1b[0m`,
    );
    joining = false;
  }
  const at = (y: number) => `\x1b[${y + 1}H`;
  let out = "\x1b[?2026h\x1b[?25l\x1b[r\x1b[?7h\x1b[0m";
  let painted = 0;
  const push = () => {
    if (painted === 0) return;
    out += at(height - 1) + "\n".repeat(Math.min(painted, height));
    painted = 0;
  };
  for (let i = 0; i < lines.length; i++) {
    let text = lines[i];
    if (text === null) {
      push();
      out += "\x1b[3J";
      continue;
    }
    if (typeof text !== "string") {
      if (painted >= height) {
        out += "\r\n" + text.text;
        painted += text.count;
        continue;
      }
      const cr = text.text.indexOf("\r");
      if (cr >= 0) {
        lines[i--] = { text: text.text.slice(cr + 2), count: text.count - 1 };
      }
      text = cr >= 0 ? text.text.slice(0, cr) : text.text;
    }
    let rows = 1, col = 0;
    for (let i = 0; i < text.length;) {
      const cp = text.codePointAt(i)!;
      if (cp === 0x1b && text[i + 1] === "[") {
        i += 2;
        while (i < text.length && !/[\x40-\x7e]/.test(text[i])) i++;
        i++;
        continue;
      }
      i += cp > 0xffff ? 2 : 1;
      const width = wcwidth(cp);
      if (width <= 0) continue;
      if (col + width > cols) {
        rows++;
        col = 0;
      }
      col += width;
    }
    if (painted >= height) {
      out += "\r\n" + text;
      if (rows > 1 && col < cols && text.includes("\x1b")) out += "\x1b[K";
      painted += rows;
      continue;
    }
    const last = Math.min(painted + rows - 1, height - 1);
    for (let y = painted + 1; y <= last; y++) out += at(y) + "\x1b[2K";
    out += at(painted) + "\x1b[2K" + text;
    if (col < cols) out += "\x1b[K";
    painted += rows;
  }
  push();
  return out + "\x1b[?2026l";
}

const PIECES = [
  "a",
  "Z",
  "0",
  " ",
  "~",
  "é",
  "中",
  "e\u0301",
  "😀",
  "\x1b[1m",
  "\x1b[38;5;196m",
  "\x1b[0m",
  "\t",
  "\x7f",
  "\x01",
];

/** A random record: mostly lines of ASCII, some styled or wide, wrapped, clears and gaps. */
function randomRecord(rand: () => number): LogRecord {
  const pick = rand();
  if (pick < 0.05) return { kind: "clear" };
  if (pick < 0.1) {
    return { kind: "gap", lines: 1 + Math.floor(rand() * 1e6) };
  }
  if (pick < 0.2) {
    const rows: string[] = [];
    for (let n = 1 + Math.floor(rand() * 12); n > 0; n--) {
      let row = "";
      for (let k = Math.floor(rand() * 40); k > 0; k--) {
        row += String.fromCharCode(0x20 + Math.floor(rand() * 95));
      }
      rows.push(row);
    }
    const bytes = new TextEncoder().encode(rows.join("\r\n"));
    return { kind: "block", bytes, lines: rows.length };
  }
  const plain = rand() < 0.6;
  let text = "";
  for (let n = Math.floor(rand() * 50); n > 0; n--) {
    text += plain
      ? String.fromCharCode(0x20 + Math.floor(rand() * 95))
      : PIECES[Math.floor(rand() * PIECES.length)];
  }
  return { kind: "line", text, cols: text.length, wrap: rand() < 0.25 };
}

Deno.test("scrollback writer: the same bytes as writing each logical line as a string, on random records", () => {
  const rand = mulberry32(41);
  for (let n = 0; n < 400; n++) {
    const records = Array.from(
      { length: Math.floor(rand() * 80) },
      () => randomRecord(rand),
    );
    const size = {
      cols: 1 + Math.floor(rand() * 30),
      rows: 1 + Math.floor(rand() * 8),
    };
    assert.equal(
      scrollbackBytes(records, size),
      stringWriter(records, size),
      `case ${n}`,
    );
  }
});

/** Record texts (gaps as `gap:N`, clears as `clear`) of a client log from `from`. */
function texts(log: ReceivedLog, from: number): string[] {
  return log.since(from).records.map((r) =>
    r.kind === "line" ? r.text : r.kind === "gap" ? `gap:${r.lines}` : "clear"
  );
}

/** Line records reading `from`..`to - 1`. */
function lines(from: number, to: number): LogRecord[] {
  return Array.from({ length: to - from }, (_, i) => ({
    kind: "line" as const,
    text: `${from + i}`,
    cols: 8,
    wrap: false,
  }));
}

/** A slice of `records` numbered from `first`, as the client reads it off the wire. */
function received(first: number, records: LogRecord[], from = 0) {
  const w = new BinaryWriter();
  writeScrollSlice(w, { first, records });
  const r = new BinaryReader(w.finish());
  r.tag();
  return readScrollSlice(r.bytes(), from)!;
}

Deno.test("received log: overlaps skipped, a hole read as one gap, written records trimmed, the oldest dropped past the cap", () => {
  let log = ReceivedLog.empty().receive(received(0, lines(0, 5)), 0);
  assert.equal(log.end, 5);
  log = log.receive(received(3, lines(3, 8)), 0);
  assert.equal(log.end, 8, "records held are not added again");
  assert.deepEqual(
    texts(log, 0),
    lines(0, 8).map((r) => `${r.kind === "line" && r.text}`),
  );
  // Records numbered below `from` are not even read off the wire.
  assert.equal(received(3, lines(3, 8), 6).first, 6);
  // A hole: one gap for the lines missing, the numbering kept.
  log = log.receive(received(10, lines(10, 12)), 0);
  assert.equal(log.end, 12);
  assert.deepEqual(texts(log, 6), ["6", "7", "gap:2", "10", "11"]);
  assert.equal(log.recordsFrom(7, 10).records.length, 2, "about 10 bytes");
  // What the terminal has (the floor) is dropped; reading from there goes on.
  log = log.receive(received(12, lines(12, 13)), 10);
  assert.equal(log.start, 10);
  assert.deepEqual(texts(log, 10), ["10", "11", "12"]);
  // Reading from below what is held starts with a gap for the rest.
  const at8 = log.cursor(8);
  assert.ok(at8.next());
  assert.equal(at8.record.lines, 2);
  assert.equal(at8.num, 10);
  assert.equal(log.since(8).first, 10, "a slice starts at what is held");
  // A client that cannot write fast enough keeps a bounded log.
  const text = "x".repeat(1000);
  let big = ReceivedLog.empty();
  for (let i = 0; i < 100; i++) {
    const records = Array.from(
      { length: 1000 },
      () => ({ kind: "line" as const, text, cols: 1000, wrap: false }),
    );
    big = big.receive(received(i * 1000, records), 0);
  }
  assert.equal(big.end, 100_000);
  assert.ok(big.byteSize() <= LOG_HELD_BYTES_MAX, `${big.byteSize()}`);
  assert.ok(big.start > 0);
  const cursor = big.cursor(0);
  assert.ok(cursor.next());
  assert.equal(cursor.record.lines, big.start, "a gap for what was dropped");
  assert.equal(cursor.num, big.start);
});

Deno.test("received log: records dropped past the cap become one gap counting the lines they held, from the written end on", () => {
  // Blocks of 100 plain lines, 1 KB each: the cap drops thousands of them.
  const text = Array.from({ length: 100 }, () => "123456789").join("\r\n");
  const block = {
    kind: "block" as const,
    bytes: new TextEncoder().encode(text),
    lines: 100,
  };
  let log = ReceivedLog.empty();
  const written = 250; // the terminal holds the first 250 records
  for (let i = 0; i < 200; i++) {
    const records = Array.from({ length: 100 }, () => block);
    log = log.receive(received(i * 100, records), i === 0 ? 0 : written);
  }
  assert.equal(log.end, 20_000);
  assert.ok(log.byteSize() <= LOG_HELD_BYTES_MAX, `${log.byteSize()}`);
  // Several drops, joined into one hole: the lines of the records from the
  // written end to what is held.
  const cursor = log.cursor(written);
  assert.ok(cursor.next());
  assert.equal(cursor.record.kind, GAP);
  assert.equal(cursor.record.lines, (log.start - written) * 100);
  assert.equal(cursor.num, log.start);
  assert.ok(cursor.next());
  assert.equal(cursor.record.kind, BLOCK);
  assert.equal(cursor.record.lines, 100);
});
