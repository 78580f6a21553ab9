/* The Browse page's cache of what cannot change while the page is open: an image's record with its
 * collection (and the header and outline the server made of them), and the histograms of a source
 * (an image drawn by a preset, bands or band math). Going back to an image, or to a look of it seen
 * before, asks the server nothing for them; the server is asked once per image and per source.
 *
 * Clientside callbacks (visualization.register), in pairs: `loadImage` answers a shown image from
 * the cache or asks the server (IMAGE_ASKED), `rememberImage` keeps what the server answered;
 * `measureSource` and `rememberMeasure` do the same for histograms. A reload empties the cache.
 */
(function () {
  "use strict";

  var KEPT = 200;  // entries of each kind; the oldest goes first
  var HIDDEN = {display: "none"};  // visualization.HIDDEN

  function Cache() { this.entries = new Map(); }
  Cache.prototype.get = function (key) { return this.entries.get(key); };
  Cache.prototype.set = function (key, value) {
    this.entries.delete(key);
    this.entries.set(key, value);
    if (this.entries.size > KEPT) { this.entries.delete(this.entries.keys().next().value); }
  };

  var images = new Cache(), measures = new Cache();

  function no() { return window.dash_clientside.no_update; }

  function sourceKey(image, params) {  // params keep the server's own order: the same source, the same text
    return image + "|" + JSON.stringify(params || {});
  }

  var pageCache = {
    /* IMAGE -> image info, header, outline, the server asked (or not), the old layer gone, legend hidden */
    loadImage: function (requested) {
      if (!requested || !requested.id) { throw window.dash_clientside.PreventUpdate; }
      var known = images.get(requested.id);
      if (known) { return [known.info, known.header, known.outline, no(), [], HIDDEN]; }
      return [no(), no(), no(), {id: requested.id, at: Date.now()}, [], HIDDEN];
    },

    rememberImage: function (info, header, outline) {
      if (info && info.image && info.image.id) {
        images.set(info.image.id, {info: info, header: header, outline: outline});
      }
      return no();
    },

    /* SOURCE -> its histograms, or the source for the server to measure */
    measureSource: function (source) {
      if (!source || source.error) { return [null, no()]; }
      var known = measures.get(sourceKey(source.image, source.params));
      return known ? [known, no()] : [no(), source];
    },

    rememberMeasure: function (measured) {
      if (measured && measured.image) { measures.set(sourceKey(measured.image, measured.params), measured); }
      return no();
    }
  };

  window.dash_clientside = Object.assign({}, window.dash_clientside, {cogbrowserPageCache: pageCache});
})();
