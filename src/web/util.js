// Small DOM and text helpers, and the moods the server knows.
//
// Invariants: no state and no side effects beyond the node asked for; user
// text only ever goes into `textContent` (via `el`), never into HTML.

export const MOODS = [
  ['chill', '😌', 'Chill'], ['fire', '🔥', 'Fire'], ['silly', '🤪', 'Silly'],
  ['shy', '🙈', 'Shy'], ['random', '🎲', 'Random'],
];

export const $ = (id) => document.getElementById(id);

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export function fillChips(list, tags) {
  list.replaceChildren(...tags.map((t) => el('li', 'chip', t)));
}

export function chars(text) {
  return [...text].length; // Unicode scalar values, as the server counts
}

export function clock(ms) {
  const d = new Date(ms);
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

export function duration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

export function seconds(ms) {
  const s = Math.max(1, Math.ceil(ms / 1000));
  return s === 1 ? '1 second' : `${s} seconds`;
}

export function moodLabel(mood) {
  const m = MOODS.find(([id]) => id === mood);
  return m ? `${m[1]} ${m[2]}` : mood;
}
