/**
 * Whether text is an IPv4 or IPv6 address literal, as node:net's isIP
 * answers, without loading node:net: any node: module costs a process about
 * 25 ms of start-up (Node compatibility), and `tmosh serve new`, which ssh
 * runs on the connect's critical path, needs nothing else of it
 * (docs/architecture.md §12.4).
 * @module
 */

/** A dotted-quad IPv4 address: four decimal numbers 0-255 without leading zeros. */
function isIPv4(text: string): boolean {
  const parts = text.split(".");
  return parts.length === 4 &&
    parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255);
}

/** Groups of 1-4 hex digits separated by colons ("" for none); null if malformed. */
function hexGroups(text: string): number | null {
  if (text === "") return 0;
  const groups = text.split(":");
  return groups.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g))
    ? groups.length
    : null;
}

/** An IPv6 address: eight groups, or fewer with one `::`, optionally ending in IPv4, optionally with a %zone. */
function isIPv6(text: string): boolean {
  const zone = text.indexOf("%");
  if (zone >= 0) {
    if (!/^[0-9a-zA-Z\-.:]+$/.test(text.slice(zone + 1))) return false;
    text = text.slice(0, zone);
  }
  let tail = 0;
  const lastColon = text.lastIndexOf(":");
  if (text.slice(lastColon + 1).includes(".")) {
    if (!isIPv4(text.slice(lastColon + 1))) return false;
    // The IPv4 part stands for two groups; keep its colon for the split below.
    text = `${text.slice(0, lastColon + 1)}0`;
    tail = 1;
  }
  const halves = text.split("::");
  if (halves.length > 2) return false;
  if (halves.length === 1) return hexGroups(text) === 8 - tail;
  const left = hexGroups(halves[0]);
  const right = hexGroups(halves[1]);
  return left !== null && right !== null && left + right + tail <= 7;
}

/** 4 for an IPv4 address, 6 for an IPv6 address, else 0 (node:net isIP). */
export function isIP(text: string): 0 | 4 | 6 {
  if (isIPv4(text)) return 4;
  if (text.includes(":") && isIPv6(text)) return 6;
  return 0;
}
