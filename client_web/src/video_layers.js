// What the SFU forwards of a remote video (docs/protocol.md, video_layers), in words for its tile:
// the layer's resolution ("HD 720p", "360p", "180p"), or Low / Medium / High while the SFU has
// not seen that layer's size yet; and whether it paused the video for a poor connection.

/** A short side from this height up is called HD. */
const HD_FROM = 720;

/**
 * One entry of video_layers ({layer, layers, width, height, paused}) as its tile shows it:
 * {layer: index or null, height: number or null, text: words or "" (nothing to show), paused:
 * whether the SFU stopped forwarding it for bandwidth}. `t` is i18n's t.
 */
export function describeLayer(video, t) {
  const none = { layer: null, height: null, text: "", paused: false };
  if (!video || typeof video !== "object") return none;
  if (video.paused === "bandwidth") return { ...none, paused: true };
  const layers = Number.isInteger(video.layers) && video.layers > 0 ? video.layers : 1;
  const layer = Number.isInteger(video.layer) && video.layer >= 0 ? video.layer : null;
  if (layer === null) return none;
  const side = (v) => (Number.isInteger(v) && v > 0 ? v : null);
  const width = side(video.width);
  const height = side(video.height);
  // "720p" names the short side: a phone held upright sends 720x1280.
  const lines = width && height ? Math.min(width, height) : height;
  let text = "";
  if (lines) text = lines >= HD_FROM ? t("tile.layerHd", { lines }) : t("tile.layerLines", { lines });
  else if (layers > 1) text = layer === 0 ? t("tile.layerLow") : layer >= layers - 1 ? t("tile.layerHigh") : t("tile.layerMedium");
  return { layer, height, text, paused: false };
}
