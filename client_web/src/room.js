// The meeting page (/r/{room_id}?t=TOKEN): room check, pre-join, meeting, and the screens after it.
import { getRoom } from "./api.js";
import { h, showNotice } from "./dom.js";
import { icon } from "./icons.js";
import { showPrejoin } from "./prejoin.js";
import { Meeting } from "./meeting.js";
import { captureMedia } from "./capture.js";

const LOAD_ERRORS = {
  // The meeting ended for this participant (collab.js / meeting.js `end`).
  removed: {
    title: "You were removed from the meeting",
    message: "A host removed you from this meeting. You cannot rejoin it from this device.",
  },
  meeting_ended: {
    title: "The meeting has ended",
    message: "The host ended the meeting for everyone. Thank you for taking part.",
  },
  lobby_denied: {
    title: "You were not admitted",
    message: "The host did not let you into the meeting. Contact the organiser if you think this is a mistake.",
  },
  forbidden: {
    title: "You cannot join this meeting",
    message: "The meeting is locked, has ended, or you were removed from it. Ask the host for help.",
  },
  invalid_token: {
    title: "This invite link is not valid",
    message: "It may have expired, been revoked, or been copied incompletely. Ask the meeting host for a new link.",
  },
  missing_token: {
    title: "This invite link is incomplete",
    message: "The link is missing its access code. Open the full link you received, or ask the host for a new one.",
  },
  room_not_found: {
    title: "Meeting not found",
    message: "This meeting does not exist or has been closed by its host.",
  },
  network: {
    title: "Cannot reach Sitroom",
    message: "Check your network connection and try again.",
  },
};

function parseLocation() {
  const match = location.pathname.match(/^\/r\/([^/]+)\/?$/);
  const roomId = match ? decodeURIComponent(match[1]) : "";
  const token = new URLSearchParams(location.search).get("t") || "";
  return { roomId, token };
}

function homeLink() {
  return h("a", { class: "button button-ghost", href: "/", text: "Go to the start page" });
}

function retryButton(label = "Try again") {
  return h("button", { type: "button", class: "button button-primary", text: label, on: { click: () => location.reload() } });
}

function showLoadError(root, code, message) {
  const known = LOAD_ERRORS[code];
  const title = known ? known.title : "The meeting could not be opened";
  const text = known ? known.message : message || "Please try again in a moment.";
  const actions = code === "network" || !known ? [retryButton(), homeLink()] : [homeLink()];
  showNotice(root, { title, message: text, actions });
  document.title = `${title} · Sitroom`;
}

function frame(root) {
  const main = h("div", { class: "room-main" });
  root.replaceChildren(
    h(
      "div",
      { class: "room-page" },
      h(
        "header",
        { class: "site-header compact" },
        h("a", { class: "brand-link", href: "/", attrs: { "aria-label": "Sitroom start page" } },
          h("span", { class: "brand-mark" }, icon("hall")),
          h("span", { class: "brand-name", text: "Sitroom" })),
      ),
      main,
    ),
  );
  return main;
}

export async function showRoom(root, sitroom) {
  const { roomId, token } = parseLocation();
  const main = frame(root);
  main.append(h("p", { class: "loading", attrs: { role: "status" }, text: "Opening the meeting…" }));
  if (!roomId || !token) {
    showLoadError(main, "missing_token");
    return;
  }
  let info;
  try {
    info = await getRoom(roomId, token);
  } catch (err) {
    const code = err.status === 401 || err.status === 403 ? "invalid_token" : err.status === 404 ? "room_not_found" : err.code;
    showLoadError(main, LOAD_ERRORS[err.code] ? err.code : code, err.message);
    return;
  }
  const room = info.room;
  const role = info.role || "participant";
  document.title = `${room.title} · Sitroom`;

  main.replaceChildren();
  const choices = await showPrejoin(main, { room, role });
  enterMeeting({ root, sitroom, roomId, token, room, role }, choices);
}

/**
 * Start the meeting with the pre-join's choices; when it ends, the "You left" or the error screen.
 * visit: {root, sitroom, roomId, token, room, role}.
 */
function enterMeeting(visit, choices) {
  const { root, sitroom, roomId, token, room, role } = visit;
  const meeting = new Meeting(root, {
    roomId,
    token,
    room,
    role,
    choices,
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
  document.title = `You left · ${room.title} · Sitroom`;
  const rejoin = h("button", {
    type: "button",
    class: "button button-primary button-large",
    text: "Rejoin",
    dataset: { testid: "rejoin" },
    id: "rejoin-button",
  });
  rejoin.addEventListener("click", async () => {
    rejoin.disabled = true;
    rejoin.textContent = "Rejoining…";
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
    title: "You left the meeting",
    message: `“${room.title}”. You can rejoin while the meeting is running.`,
    iconName: "leave",
    tone: "calm",
    actions: [rejoin, homeLink()],
  });
}
