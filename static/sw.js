// reminder's service worker, served from /sw.js so it covers the whole site (issue 14 section 1).
//
// - Offline: Today and the dose pages of the next 48 h (/offline/pages) are kept in a cache,
//   refreshed whenever a page asks (static/pwa.js); when the network is gone they are shown
//   from it. A Taken or Skip tapped offline is kept in IndexedDB with the time it was tapped
//   and sent when the phone is back online; the server judges it as at that time (tapped_at).
// - Push: a push message becomes a notification; a dose reminder's has "Taken" and "Snooze",
//   which answer through /api/v1/links/<token>/answer without opening a page. A refused tap
//   (too soon after the last dose, the window closed) opens the dose's page, which says why.
// - Logging out empties the cache and the queue: they hold one person's health data.

const CACHE = "reminder-pages-v1";
const SHELL = ["/static/style.css", "/static/pwa.js", "/static/icons/icon-192.png"];
const DB_NAME = "reminder-offline";
const STORE = "taps";
const CLOCK = "clock";
const REFRESH_EVERY_MS = 60 * 1000;
let lastRefresh = 0;

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(SHELL))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(self.clients.claim().then(sendQueuedTaps));
});

// ------------------------------------------------------------------ pages, kept for offline use

function isKeptPage(url) {
  return (
    url.origin === self.location.origin &&
    (url.pathname === "/" || /^\/doses\/\d+$/.test(url.pathname) || /^\/d\/[A-Za-z0-9_-]+$/.test(url.pathname))
  );
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.method === "POST" && url.pathname === "/logout") {
    event.respondWith(forgetEverything().then(() => fetch(request)));
  } else if (request.method === "POST" && isKeptPage(url)) {
    event.respondWith(answerOrQueue(request));
  } else if (request.method === "GET" && (isKeptPage(url) || url.pathname.startsWith("/static/"))) {
    event.respondWith(networkFirst(request));
  }
});

async function networkFirst(request) {
  try {
    const response = await fetch(request);
    if (response.ok && !response.redirected) {
      const cache = await caches.open(CACHE);
      await cache.put(request, response.clone());
    }
    return response;
  } catch (error) {
    const kept = await caches.match(request, { ignoreVary: true });
    if (kept) return kept;
    throw error;
  }
}

async function refreshKeptPages() {
  if (Date.now() - lastRefresh < REFRESH_EVERY_MS) return;
  const listing = await fetch("/offline/pages", { credentials: "same-origin" });
  const type = listing.headers.get("Content-Type") || "";
  if (!listing.ok || !type.startsWith("application/json")) return;
  const { pages, now } = await listing.json();
  await keepClockOffset(Date.parse(now) - Date.now());
  const cache = await caches.open(CACHE);
  for (const page of pages) {
    const response = await fetch(page, { credentials: "same-origin" });
    if (response.ok && !response.redirected) await cache.put(page, response);
  }
  lastRefresh = Date.now();
}

async function forgetEverything() {
  await caches.delete(CACHE);
  const db = await openQueue();
  await inStore(db, "readwrite", (store) => store.clear());
  lastRefresh = 0;
}

// ------------------------------------------------------------------ taps made offline

function openQueue() {
  return new Promise((resolve, reject) => {
    const opening = indexedDB.open(DB_NAME, 1);
    opening.onupgradeneeded = () => {
      opening.result.createObjectStore(STORE, { keyPath: "id", autoIncrement: true });
      opening.result.createObjectStore(CLOCK, { keyPath: "name" });
    };
    opening.onsuccess = () => resolve(opening.result);
    opening.onerror = () => reject(opening.error);
  });
}

function inStore(db, mode, work, name = STORE) {
  return new Promise((resolve, reject) => {
    const transaction = db.transaction(name, mode);
    const request = work(transaction.objectStore(name));
    transaction.oncomplete = () => resolve(request ? request.result : undefined);
    transaction.onerror = () => reject(transaction.error);
  });
}

// A tap is dated by the server's clock as last seen (/offline/pages tells it): a phone's own
// clock may be minutes or hours off, and the server refuses a tap dated in the future.
async function keepClockOffset(offset) {
  const db = await openQueue();
  await inStore(db, "readwrite", (store) => store.put({ name: "offset", offset }), CLOCK);
}

async function serverNow() {
  const db = await openQueue();
  const kept = await inStore(db, "readonly", (store) => store.get("offset"), CLOCK);
  return new Date(Date.now() + (kept ? kept.offset : 0));
}

async function queueTap(url, form) {
  const db = await openQueue();
  const tappedAt = (await serverNow()).toISOString();
  await inStore(db, "readwrite", (store) => store.add({ url, form, tapped_at: tappedAt }));
  if (self.registration.sync) self.registration.sync.register("taps").catch(() => {});
}

async function answerOrQueue(request) {
  const form = await request.clone().text();
  try {
    return await fetch(request);
  } catch (error) {
    await queueTap(request.url, form);
    return savedPage(new URLSearchParams(form).get("action"));
  }
}

function savedPage(action) {
  const what = action === "skip" ? "Skip" : "Taken";
  const time = new Date().toLocaleTimeString([], { hour: "numeric", minute: "2-digit" }); // the phone's own clock, as its owner reads it
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Saved on this phone</title>
<link rel="stylesheet" href="/static/style.css"><script src="/static/pwa.js" defer></script></head>
<body data-offline-saved><main><h1>Saved on this phone</h1>
<div class="flash ok" role="status" id="result">You are offline. Your ${what} at ${time} is saved and will be sent,
with that time, as soon as this phone is back online.</div>
<p><a class="button" href="/">Back to Today</a></p></main></body></html>`;
  return new Response(html, { status: 202, headers: { "Content-Type": "text/html; charset=utf-8" } });
}

// Each saved tap is sent once the network is back; one the server answered (recorded, or
// refused under the missed-dose rule) leaves the queue, one that could not be sent stays.
let sending = null;
function sendQueuedTaps() {
  sending = sending || sendAll().finally(() => (sending = null));
  return sending;
}

async function sendAll() {
  const db = await openQueue();
  const taps = await inStore(db, "readonly", (store) => store.getAll());
  let sent = 0;
  for (const tap of taps || []) {
    try {
      await sendTap(tap);
    } catch (error) {
      break; // still offline: try again later
    }
    await inStore(db, "readwrite", (store) => store.delete(tap.id));
    sent += 1;
  }
  if (sent) {
    for (const client of await self.clients.matchAll({ type: "window" })) client.postMessage({ type: "taps-sent", sent });
  }
  return sent;
}

function sendTap(tap) {
  const url = new URL(tap.url);
  const action = new URLSearchParams(tap.form).get("action");
  const token = url.pathname.match(/^\/d\/([A-Za-z0-9_-]+)$/);
  if (token) return answerByLink(token[1], action, tap.tapped_at);
  // A patient's own dose page: the same form again (its CSRF token included), with the tap's time.
  const form = new URLSearchParams(tap.form);
  form.set("tapped_at", tap.tapped_at);
  return fetch(url.pathname, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: form.toString(),
  });
}

function answerByLink(token, action, tappedAt) {
  const body = { action };
  if (tappedAt) body.tapped_at = tappedAt;
  return fetch(`/api/v1/links/${token}/answer`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
}

self.addEventListener("sync", (event) => {
  if (event.tag === "taps") event.waitUntil(sendQueuedTaps());
});

self.addEventListener("message", (event) => {
  const type = event.data && event.data.type;
  if (type === "online") {
    event.waitUntil(
      sendQueuedTaps()
        .then(refreshKeptPages)
        .then(() => event.source && event.source.postMessage({ type: "offline-ready" }))
        .catch(() => {}),
    );
  }
});

// ------------------------------------------------------------------ push notifications

self.addEventListener("push", (event) => {
  let data = { title: "reminder", body: "Open reminder to see your doses.", url: "/" };
  try {
    data = event.data ? event.data.json() : data;
  } catch (error) {
    data.body = event.data.text();
  }
  event.waitUntil(showNotification(data));
});

function showNotification(data) {
  const options = {
    body: data.body,
    tag: data.tag,
    data,
    icon: "/static/icons/icon-192.png",
    badge: "/static/icons/icon-192.png",
  };
  if (data.dose_link) {
    options.actions = [
      { action: "taken", title: "Taken" },
      { action: "snooze", title: "Snooze" },
    ];
    options.requireInteraction = true; // a reminder waits for an answer
  }
  return self.registration.showNotification(data.title || "reminder", options);
}

function answerFromNotification(event) {
  event.notification.close();
  event.waitUntil(notificationAction(event.action, event.notification.data || {}));
}
self.addEventListener("notificationclick", answerFromNotification);

async function notificationAction(action, data) {
  const link = data.dose_link ? new URL(data.dose_link) : null;
  if (link && (action === "taken" || action === "snooze")) {
    const token = link.pathname.split("/").pop();
    let response;
    try {
      response = await answerByLink(token, action, null);
    } catch (error) {
      if (action === "taken") {
        await queueTap(data.dose_link, "action=taken");
        return self.registration.showNotification("Saved on this phone", {
          body: "You are offline: your Taken will be sent, with this time, when you are back online.",
          tag: data.tag,
        });
      }
    }
    if (response && response.ok) {
      const answer = await response.json();
      return self.registration.showNotification("reminder", { body: answer.result.message, tag: data.tag, data: {} });
    }
    // Refused under the missed-dose rule (or the link ended): the dose's page says why.
    return self.clients.openWindow(link.pathname);
  }
  return self.clients.openWindow(link ? link.pathname : data.url ? new URL(data.url).pathname : "/");
}
