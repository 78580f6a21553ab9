/* Moving through time, in the browser (ui/time_steps.py says what and why):
 *
 * - steps: which acquisition is before and after the shown image (same collection, within the
 *   search's dates, in the area of interest or else the map's view), and what the time bar says;
 * - step: an arrow (or the key [ or ]) shows that image at once, in the shown look;
 * - calendar: the search's date picker opens on the newest data and marks each date with images.
 */
(function () {
  "use strict";

  var NO_UPDATE = function () { return window.dash_clientside.no_update; };
  var days = {};
  // the time bar's words when a mosaic is drawn (visualization.MOSAIC_OPTIONS): the date is the shown image's
  var MOSAICS = {newest: "Mosaic, most recent \u00b7", "least-cloudy": "Mosaic, least cloudy \u00b7",
                 closest: "Mosaic around", oldest: "Mosaic, oldest \u00b7"};  // "YYYY-MM-DD" -> {images, min_cloud_cover, max_cloud_cover}: the calendar's marks

  function utc(iso) {  // "2024-04-12T10:05:00Z" -> "2024-04-12 10:05 UTC"
    if (!iso) { return "no date"; }
    var when = new Date(iso);
    return isNaN(when) ? iso : when.toISOString().slice(0, 16).replace("T", " ") + " UTC";
  }

  function cloud(value) {
    return value === null || value === undefined ? "cloud cover unknown" : "\u2601 " + Math.round(value) + " %";
  }

  function describe(entry) {
    return entry ? utc(entry.acquired_at) + ", " + cloud(entry.cloud_cover) + " (" + entry.id + ")" : "";
  }

  function touches(bbox, bounds) {  // an image's bbox and the map's [[south, west], [north, east]]
    if (!bounds || !bbox) { return true; }
    var south = bounds[0][0], west = bounds[0][1], north = bounds[1][0], east = bounds[1][1];
    if (bbox[1] > north || bbox[3] < south) { return false; }
    return [-360, 0, 360].some(function (shift) { return bbox[0] + shift <= east && bbox[2] + shift >= west; });
  }

  function inDates(iso, start, end) {
    var day = iso ? new Date(iso).toISOString().slice(0, 10) : null;
    return !day ? !start && !end : (!start || day >= start.slice(0, 10)) && (!end || day <= end.slice(0, 10));
  }

  function order(a, b) {  // oldest first, ties by id (as the catalog sorts)
    var ta = a.acquired_at ? Date.parse(a.acquired_at) : -Infinity, tb = b.acquired_at ? Date.parse(b.acquired_at) : -Infinity;
    return ta !== tb ? ta - tb : (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  }

  var time = {
    steps: function (found, image, info, start, end, bounds, mosaic, aoi) {
      var hidden = [{previous: null, next: null}, "map-overlay time-bar hidden", "", "", true, "", true, ""];
      var shownId = image && image.id;
      if (!shownId) { return hidden; }
      var list = (found && found.acquisitions) || [];
      var shown = list.find(function (a) { return a.id === shownId; });
      if (!shown && info && info.image && info.image.id === shownId) {
        shown = {id: shownId, collection_id: info.image.collection_id, acquired_at: info.image.acquired_at,
                 cloud_cover: info.image.cloud_cover, bbox: info.image.bbox};
      }
      if (!shown) { return hidden; }
      var series = list.filter(function (a) {
        return a.id === shownId || (a.collection_id === shown.collection_id && shown.collection_id
          && inDates(a.acquired_at, start, end) && (aoi || touches(a.bbox, bounds)));
      });
      if (!series.some(function (a) { return a.id === shownId; })) { series.push(shown); }
      series.sort(order);
      var at = series.findIndex(function (a) { return a.id === shownId; });
      var previous = at > 0 ? series[at - 1] : null, next = at < series.length - 1 ? series[at + 1] : null;
      var where = aoi ? "in the area of interest" : "in the map's view";
      var position = series.length > 1 ? " \u00b7 " + (at + 1) + " / " + series.length : "";
      return [
        {previous: previous && previous.id, next: next && next.id, collection: shown.collection_id || null},
        "map-overlay time-bar",
        (MOSAICS[mosaic] ? MOSAICS[mosaic] + " " : "") + utc(shown.acquired_at).slice(0, 10) + position,
        describe(shown) + "\n" + (series.length > 1
          ? series.length + " acquisitions of this collection " + where + " within the search's dates"
          : "no other acquisition of this collection " + where + " within the search's dates"),
        !previous, previous ? "Previous acquisition [ : " + describe(previous) : "No earlier acquisition " + where,
        !next, next ? "Next acquisition ] : " + describe(next) : "No later acquisition " + where,
      ];
    },

    step: function (previousClicks, nextClicks, steps, catalog) {
      var trigger = (window.dash_clientside.callback_context.triggered[0] || {}).prop_id || "";
      var target = steps && (trigger.indexOf("browse-time-previous") === 0 ? steps.previous : steps.next);
      if (!target) { return [NO_UPDATE(), NO_UPDATE()]; }
      var preset = ((catalog || {})[steps.collection] || {}).preset;
      if (window.cogbrowser && window.cogbrowser.drawInShownLook) { window.cogbrowser.drawInShownLook(target, preset); }
      return [{id: target, vis: null}, target];
    },

    /* The search's dates as WMS TIME (start/end, '..' for an open end, whole days in UTC) and its
     * cloud limit (none at 100 %, image_search.NO_CLOUD_LIMIT). */
    searchedTimes: function (start, end, cloud) {
      var from = start ? String(start).slice(0, 10) : "..", to = end ? String(end).slice(0, 10) + "T23:59:59Z" : "..";
      return {time: from + "/" + to, cloud: cloud !== null && cloud !== undefined && cloud < 100 ? cloud : null};
    },

    calendar: function (found, start) {
      days = {};
      ((found && found.days) || []).forEach(function (day) { days[day.date] = day; });
      decorate();
      var newest = found && found.days && found.days[0];
      return newest && !start ? newest.date : NO_UPDATE();
    }
  };
  window.dash_clientside = Object.assign({}, window.dash_clientside, {cogbrowserTime: time});

  /* The keys [ and ] step as the arrows do, unless a field has the keyboard. */
  document.addEventListener("keydown", function (event) {
    if (event.key !== "[" && event.key !== "]") { return; }
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    var target = event.target, tag = target && target.tagName;
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable)) { return; }
    var button = document.getElementById(event.key === "[" ? "browse-time-previous" : "browse-time-next");
    if (button && !button.disabled) { event.preventDefault(); button.click(); }
  });

  /* The calendar's marks: the picker draws its months itself, so each day cell of an open picker
   * of the search's dates gets a class and a title when it is drawn. */
  var MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
                "November", "December"];

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function decorate() {
    var wrapper = document.getElementById("browse-dates-wrapper");
    if (!wrapper || wrapper.getAttribute("aria-expanded") !== "true") { return; }
    document.querySelectorAll(".dash-datepicker-content table.dash-datepicker-calendar").forEach(function (table) {
      var header = table.querySelector(".dash-datepicker-calendar-month-header");
      var parts = header ? header.textContent.trim().split(/\s+/) : [];
      var month = MONTHS.indexOf(parts[0]), year = parseInt(parts[1], 10);
      if (month < 0 || !isFinite(year)) { return; }
      table.querySelectorAll("td.dash-datepicker-calendar-date-inside").forEach(function (cell) {
        var date = year + "-" + pad(month + 1) + "-" + pad(parseInt(cell.textContent, 10));
        var day = days[date], mark = day ? "has-images" : "";
        if (cell.getAttribute("data-images-mark") === mark + date) { return; }
        cell.setAttribute("data-images-mark", mark + date);
        cell.classList.toggle("has-images", !!day);
        cell.classList.toggle("clear", !!day && day.min_cloud_cover !== null && day.min_cloud_cover <= 10);
        if (day) {
          var clouds = day.min_cloud_cover === null ? "cloud cover unknown"
            : day.min_cloud_cover === day.max_cloud_cover ? "\u2601 " + Math.round(day.min_cloud_cover) + " %"
              : "\u2601 " + Math.round(day.min_cloud_cover) + "\u2013" + Math.round(day.max_cloud_cover) + " %";
          cell.title = date + ": " + day.images + " image" + (day.images === 1 ? "" : "s") + ", " + clouds;
        } else {
          cell.removeAttribute("title");
        }
      });
    });
  }

  new MutationObserver(decorate).observe(document.documentElement, {childList: true, subtree: true,
                                                                    attributes: true, attributeFilter: ["aria-expanded"]});
})();
