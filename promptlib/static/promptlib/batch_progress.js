// Live batch progress on the batch page: polls the JSON endpoint until the batch stops running.
(function () {
  "use strict";
  var box = document.getElementById("batch-progress");
  if (!box) return;
  var url = box.getAttribute("data-url");
  var running = function (status) { return status === "running" || status === "pending" || status === "preparing"; };
  function show(p) {
    var preparing = p.status === "preparing";
    document.getElementById("batch-bar").style.width = (preparing ? p.prepared_percent : p.percent) + "%";
    var extra = box.querySelector(".promptlib-while-running");
    if (extra) extra.hidden = p.status !== "running"; // speed and time left mean nothing once it stopped
    var writing = box.querySelector(".promptlib-while-preparing");
    if (writing) writing.hidden = !preparing;
    box.querySelectorAll("[data-k]").forEach(function (el) {
      var value = p[el.getAttribute("data-k")];
      el.textContent = value === null || value === undefined ? "—" : value;
    });
  }
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (p) {
        show(p);
        if (running(p.status)) { setTimeout(poll, 1500); } else if (box.getAttribute("data-was-running")) {
          window.location.reload(); // final metrics and buttons
        }
        if (running(p.status)) box.setAttribute("data-was-running", "1");
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  poll();
})();
