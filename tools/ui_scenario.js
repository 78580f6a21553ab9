// The UI scenario's probe (tools/ui_scenario.py adds it to every page before the page's own scripts):
// it notes, in the page's own clock (performance.now(), ms), when the user last acted and when each
// imagery tile was asked for and drawn, so that "click -> first tile requested" is measured where the
// user sees it, not across the Playwright connection.
(() => {
  const probe = { lastAction: null, tiles: [] };
  window.__uiProbe = probe;

  // A real click or key press, seen before the page's own handlers (capture phase).
  const mark = () => { probe.lastAction = performance.now(); };
  document.addEventListener("click", mark, true);
  document.addEventListener("keydown", mark, true);

  // Imagery tiles are the <img> elements Leaflet puts in the imagery pane; a tile is requested when
  // its src is set and drawn when it has loaded.
  const inImagery = (node) => node.tagName === "IMG" && node.closest(".leaflet-browse-imagery-pane");
  const watch = (img) => {
    if (!img.src || img.__uiProbeSrc === img.src) return;
    img.__uiProbeSrc = img.src;
    const entry = { src: img.src, requested: performance.now(), drawn: null, failed: false };
    probe.tiles.push(entry);
    const drawn = () => { entry.drawn = performance.now(); };
    if (img.complete && img.naturalWidth > 0) drawn();
    else {
      img.addEventListener("load", drawn, { once: true });
      img.addEventListener("error", () => { entry.failed = true; }, { once: true });
    }
  };
  const look = (node) => {
    if (node.nodeType !== 1) return;
    if (inImagery(node)) watch(node);
    else node.querySelectorAll?.("img").forEach((img) => { if (inImagery(img)) watch(img); });
  };
  new MutationObserver((records) => {
    for (const record of records) {
      if (record.type === "attributes") look(record.target);
      else record.addedNodes.forEach(look);
    }
  }).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ["src"] });

  // Whether the page is quiet: no Dash callback in flight and Plotly done drawing what arrived.
  probe.busy = () => {
    const loading = window.store ? window.store.getState().isLoading : false;
    const drawing = [...document.querySelectorAll(".js-plotly-plot")].some((gd) => (gd._promises || []).length);
    return Boolean(loading || drawing);
  };

  // Resolves with the time the page went quiet after `since` (three frames in a row without work),
  // or null when it had nothing to do within `graceMs`.
  probe.settled = (since, graceMs) => new Promise((resolve) => {
    let sawBusy = false;
    let quietSince = null;
    let quietFrames = 0;
    const tick = () => {
      const now = performance.now();
      if (probe.busy()) {
        sawBusy = true;
        quietFrames = 0;
        quietSince = null;
      } else if (sawBusy) {
        if (quietSince === null) quietSince = now;
        quietFrames += 1;
        if (quietFrames >= 3) { resolve(quietSince); return; }
      } else if (now - since > graceMs) {
        resolve(null);
        return;
      }
      requestAnimationFrame(tick);
    };
    tick();
  });
  // Start watching before acting (a quick change can be over before the caller asks).
  probe.arm = (graceMs) => { probe.pending = probe.settled(performance.now(), graceMs); };
})();
