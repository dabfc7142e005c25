// Settings: turn push notifications on or off for this browser. The subscription goes to the
// server (/push/subscriptions) with the page's CSRF token; reminders then come as notifications
// with "Taken" and "Snooze" on them (static/sw.js shows them).
(function () {
  var box = document.getElementById("push");
  if (!box) return;
  var status = document.getElementById("push-status");
  var on = document.getElementById("push-on");
  var off = document.getElementById("push-off");

  function say(text, isOn) {
    status.textContent = text;
    on.hidden = isOn;
    off.hidden = !isOn;
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": box.dataset.csrf },
      body: JSON.stringify(body),
    }).then(function (response) {
      if (!response.ok) throw new Error("the server answered " + response.status);
      return response.json();
    });
  }

  function keyBytes(base64url) {
    var text = atob(base64url.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((base64url.length + 3) % 4));
    return Uint8Array.from(text, function (c) {
      return c.charCodeAt(0);
    });
  }

  if (!("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) {
    say("This browser cannot show notifications: reminders come by your other channels.", false);
    on.hidden = true;
    return;
  }

  function registration() {
    return navigator.serviceWorker.register("/sw.js", { scope: "/" }).then(function () {
      return navigator.serviceWorker.ready;
    });
  }

  registration()
    .then(function (reg) {
      return reg.pushManager.getSubscription();
    })
    .then(function (subscription) {
      if (subscription) say("Notifications are on for this browser.", true);
    })
    .catch(function () {});

  on.addEventListener("click", function () {
    Notification.requestPermission()
      .then(function (permission) {
        if (permission !== "granted") throw new Error("notifications are blocked for this site in the browser's settings");
        return Promise.all([registration(), fetch("/push/key", { credentials: "same-origin" }).then(function (r) { return r.json(); })]);
      })
      .then(function (both) {
        return both[0].pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(both[1].public_key) });
      })
      .then(function (subscription) {
        return post("/push/subscriptions", subscription.toJSON());
      })
      .then(function () {
        say("Notifications are on for this browser. Reminders come here, with Taken and Snooze.", true);
      })
      .catch(function (error) {
        say("Notifications could not be turned on: " + error.message + ".", false);
      });
  });

  off.addEventListener("click", function () {
    registration()
      .then(function (reg) {
        return reg.pushManager.getSubscription();
      })
      .then(function (subscription) {
        if (!subscription) return null;
        var endpoint = subscription.endpoint;
        return subscription.unsubscribe().then(function () {
          return post("/push/subscriptions/remove", { endpoint: endpoint });
        });
      })
      .then(function () {
        say("Notifications are off for this browser.", false);
      })
      .catch(function (error) {
        say("Notifications could not be turned off: " + error.message + ".", true);
      });
  });
})();
