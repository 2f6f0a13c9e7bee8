// The gallery's layout as pure functions (unit-tested): the best grid for n tiles, how many tiles
// fit, pages with self and the speaker kept on each, the page and tile sizes of a layout.

const GAP = 8;
const MAX_ASPECT = 16 / 9;
export const MAX_PAGE = 49;
const MIN_TILE = { w: 120, h: 68 };
const COMPACT_PAGE = 6; // tiles per page on a phone

/**
 * Best grid for n tiles in a w x h box: the column count that gives the largest tiles, with tile
 * aspect kept between 4:3 and 16:9 on a landscape stage, 3:4 and 16:9 on a portrait one.
 */
export function bestLayout(n, width, height, gap = GAP) {
  const minAspect = width >= height ? 4 / 3 : 3 / 4;
  let best = { cols: 1, rows: 1, tileWidth: 0, tileHeight: 0 };
  for (let cols = 1; cols <= Math.max(1, n); cols++) {
    const rows = Math.ceil(n / cols);
    const cellW = (width - (cols - 1) * gap) / cols;
    const cellH = (height - (rows - 1) * gap) / rows;
    if (cellW <= 0 || cellH <= 0) continue;
    const w = Math.min(cellW, cellH * MAX_ASPECT);
    const hgt = Math.min(cellH, w / minAspect);
    if (w * hgt > best.tileWidth * best.tileHeight) {
      best = { cols, rows, tileWidth: Math.floor(w), tileHeight: Math.floor(hgt) };
    }
  }
  return best;
}

/** How many tiles of at least MIN_TILE fit in a w x h box (at least 1, at most max). */
export function tilesThatFit(width, height, max = MAX_PAGE, min = MIN_TILE, gap = GAP) {
  const cols = Math.max(1, Math.floor((width + gap) / (min.w + gap)));
  const rows = Math.max(1, Math.floor((height + gap) / (min.h + gap)));
  return Math.max(1, Math.min(max, cols * rows));
}

/**
 * Split the gallery into pages. ids: display order without self; selfId: shown on every page;
 * speakerId: kept visible on every page (added to a page that does not hold it).
 * Returns {pages: [[id, ...], ...]} where each page lists the ids to show, self first.
 */
export function paginate(ids, { selfId = null, speakerId = null, pageSize = MAX_PAGE } = {}) {
  const others = ids.filter((id) => id !== selfId);
  const fixed = selfId ? 1 : 0;
  const size = Math.max(1, pageSize);
  if (others.length + fixed <= size) return { pages: [[...(selfId ? [selfId] : []), ...others]] };
  // Room for self and for the active speaker when the speaker is on another page.
  const chunk = Math.max(1, size - fixed - 1);
  const pages = [];
  for (let i = 0; i < others.length; i += chunk) {
    const slice = others.slice(i, i + chunk);
    const page = selfId ? [selfId] : [];
    if (speakerId && speakerId !== selfId && others.includes(speakerId) && !slice.includes(speakerId)) {
      page.push(speakerId);
    }
    pages.push([...page, ...slice]);
  }
  return { pages };
}

/**
 * Tiles per page in a box {strip, portrait, compact, width, height}: as many as fit in the grid, or
 * in the strip beside (or below) a spotlight; fewer on a phone.
 */
export function pageSizeFor({ strip, portrait, compact, width, height }) {
  if (!strip) return tilesThatFit(width, height, compact ? COMPACT_PAGE : MAX_PAGE);
  const pageSize = portrait
    ? Math.max(1, Math.floor((width + GAP) / ((compact ? 96 : 150) + GAP)))
    : Math.max(1, Math.floor((height + GAP) / (Math.min(width, 260) * (9 / 16) + GAP)));
  return Math.min(pageSize, compact ? COMPACT_PAGE : MAX_PAGE);
}

/** The size of each of `count` tiles in a box {strip, portrait, width, height}: {tileWidth, tileHeight}. */
export function tileSizeFor(count, { strip, portrait, width, height }) {
  if (strip && portrait) {
    const tileHeight = Math.floor(height);
    const tileWidth = Math.floor(Math.min((width - (count - 1) * GAP) / count, tileHeight * MAX_ASPECT));
    return { tileWidth, tileHeight };
  }
  if (strip) {
    const tileWidth = Math.floor(Math.min(width, 260));
    const tileHeight = Math.floor(Math.min(tileWidth * (9 / 16), (height - (count - 1) * GAP) / count));
    return { tileWidth, tileHeight };
  }
  const { tileWidth, tileHeight } = bestLayout(count, width, height);
  return { tileWidth, tileHeight };
}
