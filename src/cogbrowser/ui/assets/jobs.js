/* Job cards: work the API runs in the background (an export, a timelapse, statistics, a time series)
 * shown in the page.
 *
 * The server renders an empty card, <div class="job-card" data-job="/api/v1/jobs/ID" data-what="..."
 * data-preview="gif|mp4" data-result-store="...">, and never touches it again (ui/job_cards.py). This
 * script fills it and polls the job with fetch (no Dash callback, so polling costs the server one
 * small JSON read): a progress bar with the stage,
 * a Cancel button (the page's cancel store, whose server callback cancels the job with the app's token:
 * a cancel is a write, which a browser alone may not make), and once it has succeeded the link to its file, which the
 * browser then downloads — or, for a card with a result store, the job's URL written to that store, whose
 * callback draws the result in the card's place; a failed job shows its error, a cancelled one says "Cancelled".
 * A job is polled every POLL_MS, more often in its first FIRST_MS: a page's statistics take a second or so.
 * What is known of each job lives here, keyed by its URL, not in the card: Dash may mount a card
 * again (a new card appended to the list), and the new one is drawn from it, never downloaded twice.
 * After a reload the server mounts the cards of the jobs this tab started (export.py); which files
 * were saved already is kept in the tab's session storage, so a reload does not save them again.
 * A job the server no longer has (its file expired) says so.
 */
(function () {
  "use strict";
  var POLL_MS = 500, FIRST_POLL_MS = 100, FIRST_MS = 3000;
  var FINISHED = { succeeded: true, failed: true, cancelled: true, gone: true };
  var known = {}; // job URL -> {job: its last JSON, downloaded: whether its file was saved}
  var SAVED = "cogbrowser-jobs-saved"; // session storage: the job URLs whose file this tab saved

  function saved() {
    try { return JSON.parse(sessionStorage.getItem(SAVED) || "[]"); } catch (e) { return []; }
  }

  function remember(url) {
    try { sessionStorage.setItem(SAVED, JSON.stringify(saved().concat([url]).slice(-50))); } catch (e) { /* private mode */ }
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function current(card) { // the card of this job shown now (Dash may have mounted it again)
    return document.querySelector('.job-card[data-job="' + CSS.escape(card.dataset.job) + '"]') || card;
  }

  function build(card) {
    card.setAttribute("role", "status");
    card.appendChild(element("div", "job-what", card.dataset.what || "A job"));
    var bar = element("progress", "job-progress");
    bar.max = 100;
    card.appendChild(bar);
    card.appendChild(element("span", "job-stage", "queued"));
    var cancel = element("button", "job-cancel secondary", "Cancel");
    cancel.type = "button";
    cancel.addEventListener("click", function () { cancelJob(card, cancel); });
    card.appendChild(cancel);
    card.dataset.built = "1";
  }

  function cancelJob(card, button) {
    button.disabled = true;
    card.querySelector(".job-stage").textContent = "cancelling…";
    var store = card.dataset.cancelStore;
    if (store && window.dash_clientside && window.dash_clientside.set_props) {
      window.dash_clientside.set_props(store, { data: { job: card.dataset.job, at: Date.now() } });
    }
  }

  function size(bytes) {
    if (!bytes) return "";
    return bytes >= 1e6 ? (bytes / 1e6).toFixed(1) + " MB" : Math.max(1, Math.round(bytes / 1e3)) + " kB";
  }

  function finish(card, job) {
    card.dataset.state = job.state;
    if (card.querySelector(".job-download, .job-done")) return;
    card.querySelectorAll(".job-progress, .job-cancel").forEach(function (node) { node.remove(); });
    var stage = card.querySelector(".job-stage");
    if (job.state === "gone") {
      stage.textContent = "The server no longer has this job (its file has expired).";
      stage.classList.add("job-done");
      return;
    }
    if (job.state === "cancelled") {
      stage.textContent = "Cancelled";
      stage.classList.add("job-done");
      card.classList.add("job-cancelled");
      return;
    }
    if (job.state === "failed") {
      stage.textContent = (job.error && job.error.detail) || "It failed.";
      stage.classList.add("job-done");
      card.classList.add("job-failed");
      card.setAttribute("role", "alert");
      return;
    }
    var store = card.dataset.resultStore;
    if (store) { // a result the page draws: its callback replaces this card
      stage.textContent = "drawing…";
      if (window.dash_clientside && window.dash_clientside.set_props) {
        window.dash_clientside.set_props(store, { data: { job: card.dataset.job, at: Date.now() } });
      }
      return;
    }
    stage.textContent = "Saved " + job.filename + (job.result_bytes ? " (" + size(job.result_bytes) + ")" : "") + ". ";
    var link = element("a", "link job-download", "Download again");
    link.href = card.dataset.job + "/result";
    link.download = job.filename;
    card.appendChild(link);
    if (card.dataset.preview === "gif") {
      var gif = element("img", "gif-preview");
      gif.src = link.href;
      gif.alt = card.dataset.what || "timelapse";
      card.appendChild(gif);
    } else if (card.dataset.preview === "mp4") {
      var video = element("video", "gif-preview");
      video.src = link.href;
      video.controls = video.muted = video.loop = video.autoplay = true;
      video.setAttribute("aria-label", card.dataset.what || "timelapse");
      card.appendChild(video);
    }
    var record = known[card.dataset.job];
    if (!record.downloaded && saved().indexOf(card.dataset.job) < 0) {
      record.downloaded = true;
      remember(card.dataset.job);
      link.click(); // the browser saves the file under its name
    }
  }

  function show(card, job) {
    known[card.dataset.job].job = job;
    if (FINISHED[job.state]) { finish(card, job); return; }
    var bar = card.querySelector(".job-progress");
    if (bar && typeof job.progress === "number") bar.value = job.progress;
    var stage = card.querySelector(".job-stage");
    stage.textContent = job.cancel_requested ? "cancelling…" : (job.stage || job.state) +
      (typeof job.progress === "number" ? " " + job.progress + "%" : "");
  }

  function poll(card) {
    var record = known[card.dataset.job];
    record.polling = true;
    record.polled = Date.now();
    fetch(card.dataset.job, { credentials: "same-origin", cache: "no-store" })
      .then(function (answer) {
        if (answer.status === 404) return { state: "gone" };
        if (!answer.ok) throw new Error(answer.status);
        return answer.json();
      })
      .then(function (job) { show(current(card), job); })
      .catch(function () { /* busy or restarting: asked again next round */ })
      .then(function () { record.polling = false; });
  }

  function due(record) {
    var now = Date.now();
    return now - record.polled >= (now - record.since < FIRST_MS ? FIRST_POLL_MS : POLL_MS);
  }

  setInterval(function () {
    document.querySelectorAll(".job-card[data-job]:not([data-state])").forEach(function (card) {
      var record = known[card.dataset.job] ||
        (known[card.dataset.job] = { job: null, downloaded: false, since: Date.now(), polled: 0 });
      if (!card.dataset.built) {
        build(card);
        if (record.job) show(card, record.job); // mounted again: drawn as it was
      }
      if (!card.dataset.state && !(record.job && FINISHED[record.job.state]) && !record.polling && due(record)) {
        poll(card);
      }
    });
  }, FIRST_POLL_MS);
})();
