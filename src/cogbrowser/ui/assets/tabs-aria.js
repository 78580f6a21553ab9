/* Dash's tabs (dcc.Tabs) as screen readers and keyboards expect them: Dash renders plain divs, so
 * the Browse panel's tabs get the WAI-ARIA tab roles (tablist, tab with aria-selected, tabpanel),
 * one tab stop, and the arrow, Home and End keys to move between tabs. Kept in step with Dash's
 * own rendering by a MutationObserver (Dash re-renders the tabs when one is chosen).
 */
(function () {
  "use strict";

  var LIST = ".browse-tabs", TAB = ".browse-tab", SELECTED = "browse-tab--selected", PANEL = ".browse-tab-content";

  function label(list) {
    var tabs = Array.prototype.slice.call(list.querySelectorAll(TAB));
    list.setAttribute("role", "tablist");
    list.setAttribute("aria-label", "Browse panel");
    tabs.forEach(function (tab) {
      var selected = tab.classList.contains(SELECTED);
      if (tab.getAttribute("role") !== "tab") { tab.setAttribute("role", "tab"); }
      if (tab.getAttribute("aria-selected") !== String(selected)) { tab.setAttribute("aria-selected", String(selected)); }
      var stop = selected ? "0" : "-1";
      if (tab.getAttribute("tabindex") !== stop) { tab.setAttribute("tabindex", stop); }
    });
    var panel = list.parentElement && list.parentElement.querySelector(PANEL);
    if (panel && panel.getAttribute("role") !== "tabpanel") { panel.setAttribute("role", "tabpanel"); }
  }

  function labelAll() {
    Array.prototype.forEach.call(document.querySelectorAll(LIST), label);
  }

  document.addEventListener("keydown", function (event) {
    var tab = event.target.closest && event.target.closest(TAB);
    if (!tab) { return; }
    var tabs = Array.prototype.slice.call(tab.parentElement.querySelectorAll(TAB));
    var index = tabs.indexOf(tab), next = null;
    if (event.key === "ArrowRight") { next = tabs[(index + 1) % tabs.length]; }
    else if (event.key === "ArrowLeft") { next = tabs[(index - 1 + tabs.length) % tabs.length]; }
    else if (event.key === "Home") { next = tabs[0]; }
    else if (event.key === "End") { next = tabs[tabs.length - 1]; }
    else if (event.key === "Enter" || event.key === " ") { next = tab; }
    if (!next) { return; }
    event.preventDefault();
    next.click();
    next.focus();
  });

  new MutationObserver(labelAll).observe(document.documentElement, {
    childList: true, subtree: true, attributes: true, attributeFilter: ["class"]});
})();
