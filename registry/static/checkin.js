// The check-in screen renews itself when the minute turns (the code changes every minute), and
// keeps the phone's screen awake where the browser allows it.
(function () {
  var screen = document.querySelector("[data-refresh-seconds]");
  if (!screen) { return; }
  var seconds = parseInt(screen.getAttribute("data-refresh-seconds"), 10);
  if (seconds > 0) { window.setTimeout(function () { window.location.reload(); }, seconds * 1000); }
  if (navigator.wakeLock && navigator.wakeLock.request) {
    navigator.wakeLock.request("screen").catch(function () {});
  }
})();
