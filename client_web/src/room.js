// The meeting page (/r/{room_id}?t=TOKEN): room check, pre-join, meeting, and the screens after it.
import { getRoom } from "./api.js";
import { h, showNotice } from "./dom.js";
import { icon } from "./icons.js";
import { showPrejoin } from "./prejoin.js";
import { Meeting } from "./meeting.js";
import { captureMedia } from "./capture.js";
import { t } from "./i18n.js";
import { takeRejoin } from "./rejoin.js";

// Errors that end the page (room.load.<code>.title / .message in the catalogues).
const LOAD_ERRORS = new Set(["removed", "meeting_ended", "lobby_denied", "forbidden", "invalid_token",
  "missing_token", "room_not_found", "network"]);

function parseLocation() {
  const match = location.pathname.match(/^\/r\/([^/]+)\/?$/);
  const roomId = match ? decodeURIComponent(match[1]) : "";
  const token = new URLSearchParams(location.search).get("t") || "";
  return { roomId, token };
}

function homeLink() {
  return h("a", { class: "button button-ghost", href: "/", text: t("room.home") });
}

function retryButton(label = t("room.retry")) {
  return h("button", { type: "button", class: "button button-primary", text: label, on: { click: () => location.reload() } });
}

function showLoadError(root, code, message) {
  const known = LOAD_ERRORS.has(code);
  const title = known ? t(`room.load.${code}.title`) : t("room.load.other.title");
  const text = known ? t(`room.load.${code}.message`) : message || t("room.load.other.message");
  const actions = code === "network" || !known ? [retryButton(), homeLink()] : [homeLink()];
  showNotice(root, { title, message: text, actions });
  document.title = t("common.pageTitle", { title });
}

function frame(root) {
  const main = h("main", { class: "room-main" });
  root.replaceChildren(
    h(
      "div",
      { class: "room-page" },
      h(
        "header",
        { class: "site-header compact" },
        h("a", { class: "brand-link", href: "/", attrs: { "aria-label": t("room.startPage") } },
          h("span", { class: "brand-mark" }, icon("hall")),
          h("span", { class: "brand-name", text: "Sitroom", attrs: { translate: "no" } })),
      ),
      main,
    ),
  );
  return main;
}

export async function showRoom(root, sitroom) {
  const { roomId, token } = parseLocation();
  const main = frame(root);
  main.append(h("p", { class: "loading", attrs: { role: "status" }, text: t("room.opening") }));
  if (!roomId || !token) {
    showLoadError(main, "missing_token");
    return;
  }
  let info;
  try {
    info = await getRoom(roomId, token);
  } catch (err) {
    const code = err.status === 401 || err.status === 403 ? "invalid_token" : err.status === 404 ? "room_not_found" : err.code;
    showLoadError(main, LOAD_ERRORS.has(err.code) ? err.code : code, err.message);
    return;
  }
  const room = info.room;
  const role = info.role || "participant";
  document.title = t("common.pageTitle", { title: room.title });

  main.replaceChildren();
  const visit = { root, sitroom, roomId, token, room, role };
  const back = takeRejoin(roomId);
  if (back) return enterMeeting(visit, await rejoinChoices(back, role), back.resumeKey);
  const choices = await showPrejoin(main, { room, role, recording: info.recording === true });
  return enterMeeting(visit, choices);
}

async function rejoinChoices(saved, role) {
  const media = role === "viewer"
    ? { stream: new MediaStream(), audioTrack: null, videoTrack: null, errors: {} }
    : await captureMedia({ audio: true, video: true });
  return {
    name: saved.name,
    organisation: saved.organisation || "",
    media,
    audioOn: Boolean(saved.audioOn) && Boolean(media.audioTrack),
    videoOn: Boolean(saved.videoOn) && Boolean(media.videoTrack),
    wantAudio: Boolean(saved.audioOn),
    wantVideo: Boolean(saved.videoOn),
    speakerId: saved.speakerId || "",
  };
}

/**
 * Start the meeting with the pre-join's choices; when it ends, the "You left" or the error screen.
 * visit: {root, sitroom, roomId, token, room, role}.
 */
function enterMeeting(visit, choices, resumeKey = null) {
  const { root, sitroom, roomId, token, room, role } = visit;
  const meeting = new Meeting(root, {
    roomId,
    token,
    room,
    role,
    choices,
    resumeKey,
    onExit: (kind, detail) => {
      const again = frame(root);
      if (kind === "left") showLeft(again, visit, choices);
      else showLoadError(again, detail.code, detail.message);
    },
  });
  sitroom.meeting = meeting;
  meeting.start();
}

/** "You left the meeting", with Rejoin: capture again and enter with the same choices. */
function showLeft(target, visit, choices) {
  const { room, role } = visit;
  document.title = t("room.leftPageTitle", { title: room.title });
  const rejoin = h("button", {
    type: "button",
    class: "button button-primary button-large",
    text: t("room.rejoin"),
    dataset: { testid: "rejoin" },
    id: "rejoin-button",
  });
  rejoin.addEventListener("click", async () => {
    rejoin.disabled = true;
    rejoin.textContent = t("room.rejoining");
    const media =
      role === "viewer"
        ? { stream: new MediaStream(), audioTrack: null, videoTrack: null, errors: {} }
        : await captureMedia({ audio: true, video: true });
    enterMeeting(visit, {
      ...choices,
      media,
      audioOn: choices.wantAudio && Boolean(media.audioTrack),
      videoOn: choices.wantVideo && Boolean(media.videoTrack),
    });
  });
  showNotice(target, {
    title: t("room.leftTitle"),
    message: t("room.leftMessage", { title: room.title }),
    iconName: "leave",
    tone: "calm",
    actions: [rejoin, homeLink()],
  });
}
