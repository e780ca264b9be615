/**
 * The toy world of the prediction simulation: a minimal terminal, the
 * application behind the pty (a shell with prompt, echo, backspace and
 * commands, a `sudo` password prompt without echo, a pager whose ":" prompt
 * does not echo, a Python-like REPL, `stty -echo`) and the user's scripts.
 * @module
 */

import {
  blankFramebuffer,
  blankRow,
  type Cell,
  DEFAULT_RENDITION,
  type Framebuffer,
  type Row,
  rowFromCells,
} from "../protocol/terminal/framebuffer.ts";

/** Screen size of the simulation. */
export const WIDTH = 80, HEIGHT = 24;

/** A minimal terminal: printable text, CR, LF with scrolling, BS. */
export class TinyTerm {
  lines: string[][] = [];
  row = 0;
  col = 0;
  #rows: (Row | undefined)[] = [];

  constructor() {
    this.clear();
  }

  clear(): void {
    this.lines = Array.from(
      { length: HEIGHT },
      () => new Array(WIDTH).fill(""),
    );
    this.#rows = new Array(HEIGHT).fill(undefined);
    this.row = this.col = 0;
  }

  write(s: string): void {
    for (const ch of s) {
      if (ch === "\r") this.col = 0;
      else if (ch === "\n") this.#lineFeed();
      else if (ch === "\b") this.col = Math.max(0, this.col - 1);
      else {
        if (this.col >= WIDTH) {
          this.col = 0;
          this.#lineFeed();
        }
        this.lines[this.row][this.col++] = ch;
        this.#rows[this.row] = undefined;
      }
    }
  }

  #lineFeed(): void {
    if (this.row < HEIGHT - 1) {
      this.row++;
      return;
    }
    this.lines.shift();
    this.lines.push(new Array(WIDTH).fill(""));
    this.#rows.shift();
    this.#rows.push(undefined);
  }

  save(): { lines: string[][]; row: number; col: number } {
    return {
      lines: this.lines.map((l) => l.slice()),
      row: this.row,
      col: this.col,
    };
  }

  restore(s: { lines: string[][]; row: number; col: number }): void {
    this.lines = s.lines;
    this.row = s.row;
    this.col = s.col;
    this.#rows = new Array(HEIGHT).fill(undefined);
  }

  snapshot(): Framebuffer {
    const fb = blankFramebuffer(WIDTH, HEIGHT);
    const rows = this.lines.map((l, y) => {
      this.#rows[y] ??= l.every((c) => c === "")
        ? blankRow(WIDTH)
        : rowFromCells(
          l.map((text): Cell => ({
            text,
            width: 1,
            rendition: DEFAULT_RENDITION,
          })),
        );
      return this.#rows[y]!;
    });
    return {
      ...fb,
      rows,
      cursorRow: this.row,
      cursorCol: Math.min(this.col, WIDTH - 1),
    };
  }
}

/** Where the application put an echoed key. */
export interface Echo {
  row: number;
  col: number;
  ch: string;
}

/** The toy application behind the pty. */
export class App {
  term = new TinyTerm();
  cwd = "~/src";
  mode: "shell" | "password" | "pager" | "python" = "shell";
  echo = true;
  line = "";
  pagerTop = 0;
  saved: ReturnType<TinyTerm["save"]> | undefined;

  constructor() {
    this.#prompt();
  }

  #prompt(): void {
    this.line = "";
    this.term.write(this.mode === "python" ? ">>> " : `me@box:${this.cwd}$ `);
  }

  /** Feed one key; returns where it was echoed, if it was. */
  key(ch: string): Echo | undefined {
    const t = this.term;
    if (this.mode === "pager") {
      if (ch === "q") {
        this.term.restore(this.saved!);
        this.mode = "shell";
        this.#prompt();
      } else if (ch === "j" || ch === " ") {
        this.pagerTop += ch === "j" ? 1 : HEIGHT - 1;
        this.#drawPager();
      }
      return undefined;
    }
    if (ch === "\r") {
      t.write("\r\n");
      this.#run(this.line);
      return undefined;
    }
    if (ch === "\x7f") {
      if (this.line.length > 0) {
        this.line = this.line.slice(0, -1);
        if (this.echo) t.write("\b \b");
      }
      return undefined;
    }
    this.line += ch;
    if (!this.echo || this.mode === "password") return undefined;
    const at = { row: t.row, col: t.col, ch };
    t.write(ch);
    return at;
  }

  #drawPager(): void {
    this.term.clear();
    for (let i = 0; i < HEIGHT - 1; i++) {
      this.term.write(`line ${this.pagerTop + i} of notes.txt\r\n`);
    }
    this.term.write(":");
  }

  #run(cmd: string): void {
    const t = this.term;
    if (this.mode === "password") {
      this.mode = "shell";
      t.write("install -m 755 tool /usr/local/bin\r\n");
      this.#prompt();
      return;
    }
    if (this.mode === "python") {
      if (cmd === "exit()") this.mode = "shell";
      else t.write(cmd === "2**10" ? "1024\r\n" : "2\r\n");
      this.#prompt();
      return;
    }
    const [name, arg] = cmd.split(" ");
    if (name === "cd") this.cwd = arg === ".." ? "~/src" : `~/src/${arg}`;
    else if (name === "ls") t.write("Makefile  README.md  lib  tests\r\n");
    else if (name === "git") t.write("On branch main\r\nnothing to commit\r\n");
    else if (name === "make") {
      t.write("cc -O2 -c tool.c\r\ncc -o tool tool.o\r\n");
    } else if (name === "sudo") {
      t.write("[sudo] password for me: ");
      this.mode = "password";
      this.line = "";
      return;
    } else if (name === "less") {
      this.saved = t.save();
      this.mode = "pager";
      this.pagerTop = 0;
      this.#drawPager();
      return;
    } else if (name === "python3") {
      t.write("Python 3.11.2\r\n");
      this.mode = "python";
    } else if (name === "stty") this.echo = arg === "echo";
    else if (name === "clear") t.clear();
    else if (name !== "") t.write(`${name}: done\r\n`);
    this.#prompt();
  }
}

/** One user action: a line typed at a prompt, or single keys (pager, password). */
export interface Step {
  text: string;
  /** Keys are not echoed (password, pager commands). */
  secret?: boolean;
  /** No Enter after the text (pager keys). */
  noEnter?: boolean;
}

/** Ordinary work: shell, password, pager, REPL. */
export const SESSION: Step[] = [
  { text: "ls" },
  { text: "git status" },
  { text: "cd lib" },
  { text: "ls" },
  { text: "make" },
  { text: "sudo make install" },
  { text: "hunter2", secret: true },
  { text: "less notes.txt" },
  { text: "jj q", secret: true, noEnter: true },
  { text: "python3" },
  { text: "1+1" },
  { text: "2**10" },
  { text: "exit()" },
  { text: "cd .." },
  { text: "git status" },
  { text: "clear" },
  { text: "ls" },
  { text: "make" },
];

/** Typing blind after `stty -echo` in a shell without line editing. */
export const BLIND: Step[] = [
  { text: "ls" },
  { text: "stty -echo" },
  { text: "ls", secret: true },
  { text: "pwd", secret: true },
  { text: "stty echo", secret: true },
  { text: "ls" },
  { text: "git status" },
];
