/* Server callbacks that follow what the user does only while their result is shown: a search
 * limited to the view follows the map, an area's statistics or time series follow the map, the
 * picture and the area, the compared side follows the picture. Without this gate every pan or
 * stretch edit would post them to the server (the statistics and series to its heavy lane) only
 * to be told "nothing to do". Each such callback takes what it reads as State and, as its Input,
 * a store that `changedWhile` fills only while its result is shown. */
(function () {
  "use strict";

  var changes = 0;

  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.cogbrowserView = {
    /* A new token {n, by: the id of the input that changed} when an input changed while the last
     * argument (a State: a ticked checklist, a shown result) holds; else no update, and the server
     * hears nothing. */
    changedWhile: function () {
      var enabled = arguments[arguments.length - 1];
      var on = Array.isArray(enabled) ? enabled.length > 0 : Boolean(enabled);
      if (!on) { return window.dash_clientside.no_update; }
      var context = window.dash_clientside.callback_context, triggered = context && context.triggered;
      changes += 1;
      return {n: changes, by: triggered && triggered.length ? triggered[0].prop_id.split(".")[0] : null};
    }
  };
}());
