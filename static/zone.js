// Preselect the phone's own time zone in a fresh form's #tz select (no inline script: the CSP forbids it).
(function () {
  var select = document.getElementById("tz");
  if (!select || select.value) return;
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    for (var i = 0; i < select.options.length; i++) if (select.options[i].value === zone) select.value = zone;
  } catch (e) {}
})();
