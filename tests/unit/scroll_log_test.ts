/**
 * The scrollback log (docs/wire.md §14): numbered records synced inside the
 * terminal state reach the client exactly once and in order whatever the
 * network does (diffs from older states, reordering, duplication, skipped
 * states), the server adds them in bounded slices, trims what was acked and
 * collapses a backlog past its cap into one gap record.
 * @module
 */
import assert from "node:assert/strict";
import {
  type LogRecord,
  type LogSlice,
  ScrollLog,
} from "../../protocol/statesync/scroll_log.ts";
import {
  readScrollSlice,
  readSliceFully,
  readSliceQuickly,
  writeScrollSlice,
} from "../../protocol/protobufs/scroll_messages.ts";
import { BinaryReader, BinaryWriter } from "@bufbuild/protobuf/wire";
import {
  ScrollBacklog,
  splitBlock,
} from "../../protocol/statesync/scroll_backlog.ts";
import { CompleteTerminal } from "../../protocol/statesync/complete_terminal.ts";
import { ReceivedLog } from "../../protocol/statesync/received_log.ts";
import { EmulatorApplier } from "../../protocol/statesync/emulator_applier.ts";
import {
  LOG_BLOCK_BYTES_MAX,
  LOG_PENDING_MAX,
  LOG_SLICE_RECORDS,
  LOG_UNACKED_MAX,
  LOG_UNWRITTEN_BYTES_MAX,
  LOG_WINDOW_MAX,
  LOG_WINDOW_MIN,
} from "../../protocol/statesync/constants.ts";
import { blankFramebuffer } from "../../protocol/terminal/framebuffer.ts";
import {
  blockLines,
  type ScrollRecord,
} from "../../protocol/terminal/scroll_record.ts";
import { Emulator } from "../../protocol/terminal/emulator.ts";
import { mulberry32 } from "../../harness/prng.ts";

/** Scroll records of rows reading `from`..`to - 1`, taken from a real emulator (one record a row). */
function rows(from: number, to: number): ScrollRecord[] {
  if (to <= from) return [];
  const em = new Emulator(20, 2);
  em.enableNativeScrollback({ skipPlainRuns: false });
  const lines = [];
  for (let n = from; n < to; n++) lines.push(`${n}`);
  em.writeSync(new TextEncoder().encode(lines.join("\r\n") + "\r\n\r\n"));
  const out = em.takeScrollRecords();
  em.dispose();
  return out;
}

/** Text of line records (a block's lines each), gaps as `gap:N`, clears as `clear`. */
function texts(records: readonly LogRecord[]): string[] {
  return records.flatMap((r) =>
    r.kind === "block"
      ? blockLines(r).map((l) => l.text)
      : r.kind === "line"
      ? [r.text]
      : [r.kind === "gap" ? `gap:${r.lines}` : "clear"]
  );
}

/** A block record of `lines`. */
function block(lines: readonly string[]): LogRecord {
  return {
    kind: "block",
    bytes: new TextEncoder().encode(lines.join("\r\n")),
    lines: lines.length,
  };
}

Deno.test("scroll log: append, since, trim and receive keep numbering", () => {
  const a = ScrollLog.empty().append([
    { kind: "line", text: "a", cols: 1, wrap: false },
    { kind: "line", text: "b", cols: 1, wrap: false },
  ]);
  const b = a.append([{ kind: "clear" }]);
  assert.equal(b.end, 3);
  assert.deepEqual(texts(b.since(1).records), ["b", "clear"]);
  assert.equal(b.since(1).first, 1);
  const t = b.trimBelow(2);
  assert.equal(t.start, 2);
  assert.deepEqual(b.since(0).first, 0);
  assert.equal(t.since(0).first, 2);
  assert.deepEqual(t.since(0).records, [{ kind: "clear" }]);
  // Receiving is the client's (ReceivedLog, tests/unit/scrollback_bytes_test.ts).
});

Deno.test("scroll log: a slice sent again copies its chunks' encoding, byte for byte what its records encode to", () => {
  const line = (text: string): LogRecord => ({
    kind: "line",
    text,
    cols: [...text].length,
    wrap: text.length % 2 === 1,
  });
  const log = ScrollLog.empty().append([line("a"), line("héllo")])
    .append([{ kind: "clear" }, line("x".repeat(300))])
    .append([{ kind: "gap", lines: 1234567 }, line("\x1b[1mB\x1b[0m")]);
  const encode = (slice: LogSlice) => {
    const w = new BinaryWriter();
    writeScrollSlice(w, slice);
    return w.finish();
  };
  for (const from of [0, 1, 2, 3, 5, 6]) {
    const slice = log.since(from);
    assert.ok(
      slice.encoded !== undefined,
      "the server's slices carry their encoding",
    );
    const plain = { first: slice.first, records: [...slice.records] };
    const bytes = encode(slice);
    assert.deepEqual(bytes, encode(plain), `from ${from}`);
    assert.deepEqual(encode(log.since(from)), bytes, `again from ${from}`);
    const reader = new BinaryReader(bytes);
    reader.tag();
    const back = readScrollSlice(reader.bytes())!;
    assert.deepEqual(
      { first: back.first, records: [...back.records] },
      plain,
      `decoded from ${from}`,
    );
  }
});

Deno.test("scroll log: a slice resent from an older state is read from what the terminal lacks, without a gap", () => {
  const line = (n: number): LogRecord => ({
    kind: "line",
    text: `${n}`,
    cols: `${n}`.length,
    wrap: false,
  });
  const numbers = (from: number, to: number) =>
    Array.from({ length: to - from }, (_, i) => line(from + i));
  const server = (log: ScrollLog) =>
    new CompleteTerminal(blankFramebuffer(20, 2), 0n, {
      capabilities: ["ext.v1", "scrollback.v1"],
      scroll: log,
    });
  const at10 = ScrollLog.empty().append(numbers(0, 10));
  const at30 = at10.append(numbers(10, 20)).append(numbers(20, 30));
  // The client's base holds records up to 10; newer states let it write up to 25.
  let written = 25;
  const base = new CompleteTerminal(blankFramebuffer(20, 2), 0n, {
    applier: new EmulatorApplier(),
    logFloor: () => written,
    scroll: ReceivedLog.empty().receive(
      { first: 0, records: numbers(0, 10) },
      0,
    ),
  });
  const next = base.applyDiff(server(at30).diffFrom(server(at10)))!;
  assert.equal(next.scroll.end, 30);
  assert.equal(next.scroll.start, 25, "what is written is not held again");
  assert.deepEqual(
    texts(next.scroll.recordsFrom(written, Infinity).records),
    ["25", "26", "27", "28", "29"],
  );
  // A floor below the base's end: records from the base's end on, as before.
  written = 5;
  const again = base.applyDiff(server(at30).diffFrom(server(at10)))!;
  assert.deepEqual(
    texts(again.scroll.recordsFrom(10, Infinity).records),
    texts(numbers(10, 30)),
  );
});

/** A 20x2 server state that speaks scrollback.v1. */
function scrollServer(): CompleteTerminal {
  return new CompleteTerminal(blankFramebuffer(20, 2), 0n, {
    capabilities: ["ext.v1", "scrollback.v1"],
  });
}

/** A 20x2 client state applying diffs with `applier`, its log floor what `written` says. */
function scrollClient(
  applier: EmulatorApplier,
  written: () => number,
): CompleteTerminal {
  return new CompleteTerminal(blankFramebuffer(20, 2), 0n, {
    applier,
    logFloor: written,
  });
}

Deno.test("scroll log: every line reaches the client once, in order, through a lossy reordering network", () => {
  const rand = mulberry32(7);
  const applier = new EmulatorApplier();
  let written = 0;
  const out: string[] = [];
  const backlog = new ScrollBacklog();
  let server = scrollServer();
  const sent: CompleteTerminal[] = [server];
  let client = scrollClient(applier, () => written);
  let clientBase = 0; // index into `sent` of the client's state
  let acked = 0;
  let next = 0;
  const TOTAL = 20000;
  for (let step = 0; step < 4000 && (written < TOTAL || next < TOTAL); step++) {
    if (next < TOTAL) {
      const n = Math.min(TOTAL, next + Math.floor(rand() * 50));
      backlog.add(rows(next, n));
      next = n;
    }
    server = server.withScroll(
      backlog.next({
        sentEnd: sent[sent.length - 1].scroll.end,
        ackedEnd: sent[acked].scroll.end,
      }),
      false,
    );
    sent.push(server);
    // The sender diffs from a state the client may have (acked or later);
    // the datagram may be lost, duplicated or delivered late.
    const from = acked + Math.floor(rand() * (sent.length - 1 - acked));
    const to = sent.length - 1 - Math.floor(rand() * 2);
    if (rand() < 0.3 || from !== clientBase || to <= from) continue;
    const diff = sent[to].diffFrom(sent[from]);
    const applied = client.applyDiff(diff);
    assert.ok(applied !== null);
    client = applied;
    clientBase = to;
    // The client writes what it has not written, then acks.
    const slice = client.scroll.since(written);
    assert.equal(slice.first, written);
    for (const r of slice.records) {
      assert.equal(r.kind, "line");
      if (r.kind === "line") out.push(r.text);
    }
    written = client.scroll.end;
    if (rand() < 0.7) acked = to;
  }
  assert.equal(out.length, TOTAL);
  assert.deepEqual(out, Array.from({ length: TOTAL }, (_, i) => `${i}`));
  applier.dispose();
});

Deno.test("scroll backlog: slices, the unacked window, and a gap past the pending cap", () => {
  const backlog = new ScrollBacklog();
  const many: ScrollRecord[] = [];
  const one = rows(0, 1)[0];
  for (let i = 0; i < LOG_PENDING_MAX + 5000; i++) many.push(one);
  backlog.add(many);
  const first = backlog.next({ sentEnd: 0, ackedEnd: 0 });
  const recs = first.since(0).records;
  assert.equal(recs[0].kind, "gap", "the oldest collapsed into a gap");
  assert.ok(recs.length <= LOG_SLICE_RECORDS);
  assert.ok(backlog.collapsedTotal > 0);
  // Without acks the log never grows past the unacked window.
  let log = first;
  for (let i = 0; i < 20; i++) {
    log = backlog.next({ sentEnd: log.end, ackedEnd: 0 });
  }
  assert.ok(log.end <= LOG_UNACKED_MAX, `${log.end}`);
  // Acks trim it.
  const trimmed = backlog.next({ sentEnd: log.end, ackedEnd: log.end });
  assert.equal(trimmed.start, log.end);
  // A clear among collapsed records is kept, before the gap.
  const b2 = new ScrollBacklog();
  b2.add([one, { kind: "clear" }, ...many]);
  const r2 = b2.next({ sentEnd: 0, ackedEnd: 0 }).since(0).records;
  assert.deepEqual(r2.slice(0, 2).map((r) => r.kind), ["clear", "gap"]);
});

Deno.test("scroll backlog: a client that reports its writing (scrollflow.v1) is never sent more than LOG_UNWRITTEN_BYTES_MAX ahead of its terminal", () => {
  const text = "x".repeat(92); // 100 wire bytes a record (recordWireBytes)
  const records = (n: number): LogRecord[] =>
    Array.from({ length: n }, () => ({
      kind: "line" as const,
      text,
      cols: 92,
      wrap: false,
    }));
  const perRecord = 100;
  // The program writes 1000 records before each state (the pending caps
  // never collapse them), 3.2 MB in all.
  const total = 32_000;
  const step = (b: ScrollBacklog, end: number, i: number) => {
    if (i < total / 1000) b.addLog(records(1000));
    return b.next({ sentEnd: end, ackedEnd: end }).end;
  };
  // Without reports, acknowledgements alone let the log run ahead without
  // bound: everything goes out (acked records are trimmed).
  const plain = new ScrollBacklog();
  let end = 0;
  for (let i = 0; i < 100; i++) end = step(plain, end, i);
  assert.equal(end, total);
  assert.equal(plain.collapsedTotal, 0);

  // A client whose terminal wrote nothing yet: the log stops at the budget,
  // however often states are made and acknowledged.
  const backlog = new ScrollBacklog();
  backlog.clientWrote(0);
  let sent = 0;
  for (let i = 0; i < 100; i++) sent = step(backlog, sent, i);
  const budget = (n: number) =>
    n * perRecord <= LOG_UNWRITTEN_BYTES_MAX + perRecord;
  assert.ok(budget(sent), `${sent}`);
  assert.ok(sent * perRecord > LOG_UNWRITTEN_BYTES_MAX - perRecord, `${sent}`);
  assert.equal(backlog.pendingCount, total - sent, "the rest waits");
  assert.equal(backlog.collapsedTotal, 0);
  // What the client has not written stays in the log, acked or not.
  const log = backlog.next({ sentEnd: sent, ackedEnd: sent });
  assert.equal(log.start, 0);
  const stuck = sent, half = Math.floor(stuck / 2);
  // The terminal took half: as much again may come, no more.
  backlog.clientWrote(half);
  for (let i = 0; i < 10; i++) sent = step(backlog, sent, 100);
  assert.ok(sent > stuck);
  assert.ok(budget(sent - half), `${sent} after ${stuck}`);
  assert.ok(backlog.next({ sentEnd: sent, ackedEnd: sent }).start <= half);
  // The flow control's pace is the terminal's: the written end, not the acked one.
  assert.equal(backlog.writtenEnd(sent), half);
  assert.equal(plain.writtenEnd(end), end);
  // A stale report (a smaller end) changes nothing.
  backlog.clientWrote(1);
  assert.equal(backlog.writtenEnd(sent), half);
  // The terminal keeps up: the rest comes.
  for (let i = 0; i < 100; i++) {
    backlog.clientWrote(sent);
    sent = step(backlog, sent, 100);
  }
  assert.equal(sent, total);
});

Deno.test("scroll backlog: the window doubles as acks advance; a timeout halves it (or what was in flight) once per RTO and takes back what it no longer holds", () => {
  const text = "x".repeat(92); // 100 wire bytes a record (recordWireBytes)
  const record = (): LogRecord => ({
    kind: "line",
    text,
    cols: 92,
    wrap: false,
  });
  const backlog = new ScrollBacklog();
  backlog.addLog(Array.from({ length: 15_000 }, record)); // under the pending cap
  const start = backlog.window;
  let log = backlog.next({ sentEnd: 0, ackedEnd: 0 });
  assert.equal(
    log.end,
    Math.ceil(start / 100),
    "the first state fills the window",
  );
  log = backlog.next({ sentEnd: log.end, ackedEnd: 10 });
  assert.equal(backlog.window, start * 2, "slow start doubles");
  const sentEnd = backlog.next({ sentEnd: log.end, ackedEnd: 10 }).end;
  // In flight: the unacknowledged records, at most the window.
  const flight = Math.min(2 * start, (sentEnd - 10) * 100);
  // A timeout: half of what was in flight; the rest is taken back.
  assert.ok(backlog.timeout(10, { now: 1000, rto: 300 }));
  assert.equal(backlog.window, flight / 2);
  const resent = backlog.next({ sentEnd, ackedEnd: 10 });
  assert.equal(resent.end, 10 + Math.ceil(flight / 2 / 100));
  // Another timeout within the RTO, acks unchanged: no further halving.
  assert.equal(backlog.timeout(10, { now: 1200, rto: 300 }), false);
  assert.equal(backlog.window, flight / 2);
  // After an RTO: halve again; or at once when acks advanced.
  assert.ok(backlog.timeout(10, { now: 1300, rto: 300 }));
  assert.equal(backlog.window, flight / 4);
  assert.ok(backlog.timeout(11, { now: 1310, rto: 300 }));
  const cut = backlog.window;
  assert.ok(cut < flight / 4 && cut >= flight / 8 - 100, `${cut}`);
  // The records taken back come again, in order, as acks advance by quarters.
  const again = backlog.next({ sentEnd: resent.end, ackedEnd: 12 });
  assert.equal(backlog.window, cut + Math.max(8 * 1024, cut / 4));
  assert.equal(again.since(12).first, 12);
  for (let i = 0; i < 20; i++) {
    backlog.timeout(100 + i, { now: 2000 + i, rto: 300 });
  }
  assert.equal(backlog.window, LOG_WINDOW_MIN);
  for (let i = 1; i <= 200; i++) {
    backlog.next({ sentEnd: 0, ackedEnd: 1000 + i });
  }
  assert.equal(backlog.window, LOG_WINDOW_MAX);
});

Deno.test("scroll backlog: records taken back after a timeout reach the client once, in order, whichever states it holds", () => {
  const rand = mulberry32(11);
  const applier = new EmulatorApplier();
  let written = 0;
  const out: string[] = [];
  const backlog = new ScrollBacklog();
  let server = scrollServer();
  const sent: CompleteTerminal[] = [server];
  // The client's states by index into `sent` (a receiver holds several).
  const held = new Map<number, CompleteTerminal>([
    [0, scrollClient(applier, () => written)],
  ]);
  let newest = 0, acked = 0, next = 0, takenBack = 0, shorter = 0;
  let belowAcked = 0;
  const TOTAL = 60000;
  for (let step = 0; step < 40000 && written < TOTAL; step++) {
    if (next < TOTAL && rand() < 0.2) {
      const n = Math.min(TOTAL, next + Math.floor(rand() * 3000));
      backlog.add(rows(next, n));
      next = n;
    }
    // A timeout resends from the acknowledged state, after taking back
    // what the halved window does not hold; otherwise the sender diffs
    // from the state it sent last.
    const timedOut = rand() < 0.25;
    const ackedEnd = sent[acked].scroll.end;
    if (timedOut && backlog.timeout(ackedEnd, { now: step, rto: 3 })) {
      takenBack++;
    }
    // As the server does: keep what any state sent since the acked one lacks.
    let floor = ackedEnd;
    for (const st of sent.slice(acked + 1)) {
      floor = Math.min(floor, st.scroll.end);
    }
    if (floor < ackedEnd) belowAcked++;
    server = server.withScroll(
      backlog.next({
        sentEnd: sent[sent.length - 1].scroll.end,
        ackedEnd,
        floor,
      }),
      false,
    );
    if (server.scroll.end < sent[sent.length - 1].scroll.end) shorter++;
    const from = timedOut ? acked : sent.length - 1;
    sent.push(server);
    const to = sent.length - 1;
    const base = held.get(from);
    if (rand() >= 0.3 && base !== undefined) { // else lost
      const applied = base.applyDiff(server.diffFrom(sent[from]));
      assert.ok(applied !== null);
      held.set(to, applied);
      newest = Math.max(newest, to);
    }
    // The client writes a frame's share of what its newest state holds.
    const slice = held.get(newest)!.scroll.recordsFrom(
      written,
      rand() * 5_000,
    );
    if (slice.records.length > 0) {
      assert.equal(slice.first, written, "no hole before the records");
      for (const r of slice.records) {
        assert.equal(r.kind, "line");
        if (r.kind === "line") out.push(r.text);
      }
      written = slice.first + slice.records.length;
    }
    // An ack arrives, perhaps late: for a state the client held, not
    // necessarily its newest.
    if (rand() < 0.4) {
      const later = [...held.keys()].filter((k) => k > acked);
      if (later.length > 0) {
        acked = later[Math.floor(rand() * later.length)];
      }
    }
    for (const k of held.keys()) if (k < acked) held.delete(k);
  }
  // The case under test happened (seeded: the same figures every run).
  assert.ok(takenBack >= 5, `records were taken back ${takenBack} times`);
  assert.ok(
    shorter >= 5,
    `states shorter than the one sent before: ${shorter}`,
  );
  assert.ok(
    belowAcked >= 5,
    `states sent after the acked one but ending below it: ${belowAcked}`,
  );
  assert.equal(out.length, TOTAL);
  assert.deepEqual(out, Array.from({ length: TOTAL }, (_, i) => `${i}`));
  applier.dispose();
});

Deno.test("scroll log: block records travel as their bytes; a block holding anything but printable ASCII lines is refused", () => {
  const encode = (slice: LogSlice) => {
    const w = new BinaryWriter();
    writeScrollSlice(w, slice);
    const reader = new BinaryReader(w.finish());
    reader.tag();
    return reader.bytes();
  };
  const records: LogRecord[] = [
    block(["1", "22", "", "  333  "]),
    { kind: "line", text: "x", cols: 1, wrap: false },
    block(["only"]),
    { kind: "gap", lines: 3 },
    block([""]),
  ];
  const bytes = encode({ first: 7, records });
  for (const read of [readScrollSlice, readSliceQuickly, readSliceFully]) {
    const back = read(bytes);
    assert.deepEqual(
      back && { first: back.first, records: [...back.records] },
      { first: 7, records },
      read.name,
    );
  }
  assert.deepEqual(texts(records), [
    "1",
    "22",
    "",
    "  333",
    "x",
    "only",
    "gap:3",
    "",
  ]);
  // What a hostile server might try to reach the user's terminal with.
  for (
    const bad of ["a\x1b[2Jb", "a\nb", "a\rb", "a\r", "\x7f", "é", "a\tb"]
  ) {
    const raw = new TextEncoder().encode(bad);
    const slice = encode({
      first: 0,
      records: [{ kind: "block", bytes: raw, lines: 1 }],
    });
    assert.equal(readScrollSlice(slice), null, JSON.stringify(bad));
    assert.equal(readSliceFully(slice), null, JSON.stringify(bad));
  }
});

Deno.test("scroll backlog: a client without scrollblock.v1 gets a block as its lines; collapsing a block counts its lines", () => {
  const b = block(["a", "b  ", "", "c"]);
  const plain = new ScrollBacklog({ blocks: false });
  plain.addLog([b]);
  const recs = plain.next({ sentEnd: 0, ackedEnd: 0 }).since(0).records;
  assert.deepEqual(recs, [
    { kind: "line", text: "a", cols: 1, wrap: false },
    { kind: "line", text: "b", cols: 1, wrap: false },
    { kind: "line", text: "", cols: 0, wrap: false },
    { kind: "line", text: "c", cols: 1, wrap: false },
  ]);
  const withBlocks = new ScrollBacklog();
  withBlocks.addLog([b]);
  assert.deepEqual(
    withBlocks.next({ sentEnd: 0, ackedEnd: 0 }).since(0).records,
    [b],
  );
  const collapsed = new ScrollBacklog();
  collapsed.addLog([b, b, { kind: "line", text: "z", cols: 1, wrap: false }]);
  collapsed.collapsePending();
  assert.equal(collapsed.collapsedTotal, 9);
  assert.deepEqual(
    texts(collapsed.next({ sentEnd: 0, ackedEnd: 0 }).since(0).records),
    ["gap:9"],
  );
});

Deno.test("scroll backlog: a long block enters the log cut at line ends into blocks of at most LOG_BLOCK_BYTES_MAX bytes", () => {
  const rand = mulberry32(7);
  for (let n = 0; n < 200; n++) {
    const lines = Array.from({ length: 1 + Math.floor(rand() * 900) }, () => {
      const long = rand() < 0.01;
      return "x".repeat(Math.floor(rand() * (long ? 5000 : 70)));
    });
    const whole = block(lines);
    const pieces = splitBlock(
      whole as { bytes: Uint8Array; lines: number },
    );
    assert.deepEqual(texts(pieces), texts([whole]), `case ${n}`);
    for (const p of pieces) {
      assert.equal(p.kind, "block");
      if (p.kind !== "block") continue;
      assert.equal(p.lines, texts([p]).length);
      assert.ok(
        p.bytes.length <= LOG_BLOCK_BYTES_MAX || p.lines === 1,
        `case ${n}: ${p.bytes.length} bytes in ${p.lines} lines`,
      );
    }
    const backlog = new ScrollBacklog();
    backlog.addLog([whole]);
    const sent: LogRecord[] = [];
    for (let end = 0; backlog.pendingCount > 0 || sent.length === 0;) {
      const log = backlog.next({ sentEnd: end, ackedEnd: end });
      sent.push(...log.since(end).records);
      end = log.end;
    }
    assert.deepEqual(sent, pieces);
  }
});
