// Registers the service worker (/sw.js) and tells it when the phone is online, so it sends the
// taps it saved offline and refreshes the pages it keeps (Today, the next 48 h of dose pages).
// On the page the service worker shows for a saved tap, Today opens once the tap is sent.
(function () {
  if (!("serviceWorker" in navigator)) return;

  function online() {
    if (navigator.onLine && navigator.serviceWorker.controller) {
      navigator.serviceWorker.controller.postMessage({ type: "online" });
    }
  }

  navigator.serviceWorker.addEventListener("message", function (event) {
    var type = event.data && event.data.type;
    if (type === "offline-ready") document.documentElement.dataset.offlineReady = "1";
    if (type === "taps-sent" && document.body.hasAttribute("data-offline-saved")) window.location.assign("/");
  });
  navigator.serviceWorker.addEventListener("controllerchange", online);
  window.addEventListener("online", online);
  navigator.serviceWorker
    .register("/sw.js", { scope: "/" })
    .then(function () {
      return navigator.serviceWorker.ready;
    })
    .then(online)
    .catch(function () {});
})();
