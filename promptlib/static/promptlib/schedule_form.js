// Schedule forms: the time zone starts as the browser's own, and "On" shows only for "Every week".
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const zone = document.getElementById("id_timezone");
  if (zone && zone.dataset.detect === "1") {
    const mine = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (mine && [...zone.options].some((o) => o.value === mine)) zone.value = mine;
  }
  const repeat = document.getElementById("id_repeat");
  const weekday = document.getElementById("id_weekday");
  if (!repeat || !weekday) return;
  const row = weekday.closest("tr") || weekday.parentElement;
  const sync = () => { row.hidden = repeat.value !== "weekly"; };
  repeat.addEventListener("change", sync);
  sync();
});
