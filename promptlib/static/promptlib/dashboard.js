/* The experiment dashboard: Chart.js charts (estimates with 95% interval bars, metrics over time)
   and the live progress bars of running batches. Data come from the #dashboard-charts JSON. */
(function () {
  "use strict";

  // Draws a vertical interval (whisker with caps) on each bar: dataset.intervals = [[low, high], …].
  const intervalBars = {
    id: "intervalBars",
    afterDatasetsDraw(chart) {
      const { ctx, scales } = chart;
      chart.data.datasets.forEach((dataset, di) => {
        if (!dataset.intervals) return;
        chart.getDatasetMeta(di).data.forEach((bar, i) => {
          const iv = dataset.intervals[i];
          if (!iv || iv[0] === null || iv[1] === null) return;
          const top = scales.y.getPixelForValue(iv[1]);
          const bottom = scales.y.getPixelForValue(iv[0]);
          const cap = Math.max(4, Math.min(12, bar.width / 4));
          ctx.save();
          ctx.strokeStyle = "#222";
          ctx.lineWidth = 1.5;
          ctx.beginPath();
          ctx.moveTo(bar.x, top); ctx.lineTo(bar.x, bottom);
          ctx.moveTo(bar.x - cap, top); ctx.lineTo(bar.x + cap, top);
          ctx.moveTo(bar.x - cap, bottom); ctx.lineTo(bar.x + cap, bottom);
          ctx.stroke();
          ctx.restore();
        });
      });
    },
  };

  function formatter(spec) {
    if (spec.isRate) return (v) => (v * 100).toFixed(v * 100 % 1 ? 1 : 0) + "%";
    if (spec.unit === "USD") return (v) => "$" + Number(v).toPrecision(3);
    if (spec.unit === "ms") return (v) => Math.round(v).toLocaleString() + " ms";
    return (v) => Number(v).toLocaleString(undefined, { maximumSignificantDigits: 3 });
  }

  function intervalChart(canvas, spec) {
    const format = formatter(spec);
    const highs = spec.highs.map((h, i) => (h === null ? spec.values[i] : h)).filter((v) => v !== null);
    return new Chart(canvas, {
      type: "bar",
      data: {
        labels: spec.variants.map((v) => (v === spec.winner ? v + " ★" : v)),
        datasets: [{
          data: spec.values,
          intervals: spec.lows.map((low, i) => [low, spec.highs[i]]),
          backgroundColor: spec.colours.map((c, i) => (spec.variants[i] === spec.winner ? c : c + "cc")),
          borderColor: spec.variants.map((v) => (v === spec.winner ? "#1a9850" : "transparent")),
          borderWidth: spec.variants.map((v) => (v === spec.winner ? 3 : 0)),
          borderRadius: 4,
          maxBarThickness: 70,
        }],
      },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: { label: (item) => {
            const iv = item.dataset.intervals[item.dataIndex];
            const range = iv && iv[0] !== null ? ` (95% interval ${format(iv[0])} – ${format(iv[1])})` : "";
            return format(item.raw) + range;
          } } },
        },
        scales: {
          y: { beginAtZero: true, suggestedMax: spec.isRate ? 1 : Math.max(...highs, 0) * 1.05,
               max: spec.isRate ? 1 : undefined, ticks: { callback: format, maxTicksLimit: 6 } },
        },
      },
      plugins: [intervalBars],
    });
  }

  function seriesChart(canvas, spec) {
    const format = formatter(spec);
    return new Chart(canvas, {
      type: "line",
      data: {
        labels: spec.x,
        datasets: spec.lines.map((line) => ({
          label: line.variant, data: line.values, borderColor: line.colour, backgroundColor: line.colour,
          spanGaps: true, tension: 0.2, pointRadius: 3,
        })),
      },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } },
                   tooltip: { callbacks: { label: (item) => `${item.dataset.label}: ${format(item.raw)}` } } },
        scales: { y: { beginAtZero: spec.isRate, max: spec.isRate ? 1 : undefined, ticks: { callback: format, maxTicksLimit: 6 } },
                  x: { ticks: { maxRotation: 0, autoSkip: true, maxTicksLimit: 6 } } },
      },
    });
  }

  function drawCharts() {
    const source = document.getElementById("dashboard-charts");
    if (!source || typeof Chart === "undefined") return;
    const specs = JSON.parse(source.textContent).charts;
    const colours = {};
    specs.forEach((spec) => {
      const canvas = document.querySelector(`canvas[data-chart="${spec.id}"]`);
      if (spec.type === "interval") spec.variants.forEach((v, i) => { colours[v] = spec.colours[i]; });
      if (!canvas) return;
      (spec.type === "interval" ? intervalChart : seriesChart)(canvas, spec);
    });
    document.querySelectorAll("[data-variant-dot]").forEach((dot) => {
      const colour = colours[dot.dataset.variantDot];
      if (colour) dot.style.background = colour;
    });
  }

  function progressRow(batch) {
    const row = document.createElement("div");
    row.className = "pl-progress-row";
    row.dataset.batch = batch.id;
    row.innerHTML = '<span class="pl-progress-label"></span><div class="pl-progress" role="progressbar" ' +
      'aria-valuemin="0" aria-valuemax="100"><div class="pl-progress-bar"></div></div><span class="pl-progress-text"></span>';
    return row;
  }

  function updateProgress(container, batches) {
    const seen = new Set();
    batches.forEach((batch) => {
      seen.add(String(batch.id));
      let row = container.querySelector(`[data-batch="${batch.id}"]`);
      if (!row) { row = progressRow(batch); container.appendChild(row); }
      row.querySelector(".pl-progress-label").textContent = `Batch ${batch.id} · ${batch.status}`;
      row.querySelector(".pl-progress-bar").style.width = batch.percent + "%";
      row.querySelector(".pl-progress").setAttribute("aria-valuenow", batch.percent);
      row.querySelector(".pl-progress-text").textContent = `${batch.done} / ${batch.total} (${Math.round(batch.percent)}%)`;
    });
    container.querySelectorAll("[data-batch]").forEach((row) => {
      if (!seen.has(row.dataset.batch)) {
        row.querySelector(".pl-progress-bar").style.width = "100%";
        row.querySelector(".pl-progress-text").textContent = "finished — reload for the new results";
      }
    });
    const empty = document.getElementById("no-running");
    if (empty) empty.hidden = batches.length > 0;
  }

  function pollProgress() {
    const container = document.getElementById("running-batches");
    if (!container) return;
    const interval = Number(container.dataset.pollMs || 2000);
    const tick = () => {
      fetch(container.dataset.progressUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then((response) => (response.ok ? response.json() : null))
        .then((data) => { if (data) updateProgress(container, data.batches); })
        .catch(() => {})
        .finally(() => window.setTimeout(tick, interval));
    };
    window.setTimeout(tick, interval);
  }

  document.addEventListener("DOMContentLoaded", () => { drawCharts(); pollProgress(); });
})();
