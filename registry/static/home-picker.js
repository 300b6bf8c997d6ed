// Where you live (the home_picker macro): choosing a prefecture lists its municipalities in place,
// from the public 団体 API (same origin, GET only). Without this script the prefecture's button posts
// the form back for the list; with it the button goes (so Enter in a field submits the form itself),
// unless the list cannot be fetched, when the button comes back. One page of 200 holds any
// prefecture's municipalities (the most, 北海道's, are 179).
(function () {
  "use strict";
  Array.prototype.forEach.call(document.querySelectorAll("[data-home-picker]"), function (picker) {
    var prefecture = picker.querySelector("[data-role=home-prefecture]");
    var municipality = picker.querySelector("[data-role=home-municipality]");
    var button = picker.querySelector("[data-role=show-municipalities]");
    if (!prefecture || !municipality || !button || !window.fetch) { return; }
    var place = button.parentNode, next = button.nextSibling;
    place.removeChild(button);

    function fill(rows, placeholder) {
      while (municipality.options.length) { municipality.remove(0); }
      municipality.add(new Option(placeholder, ""));
      rows.forEach(function (row) { municipality.add(new Option(row.name, row.code)); });
    }

    prefecture.addEventListener("change", function () {
      var code = prefecture.value;
      if (!code) { fill([], picker.getAttribute("data-choose-prefecture-first")); return; }
      municipality.disabled = true;
      fetch("/api/v1/organizations?kind=municipality&per_page=200&prefecture=" + encodeURIComponent(code),
            { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { if (!r.ok) { throw new Error("organizations " + r.status); } return r.json(); })
        .then(function (rows) {
          if (prefecture.value !== code) { return; }  // another prefecture was chosen meanwhile
          fill(rows, picker.getAttribute("data-choose"));
        })
        .catch(function (e) {
          console.warn(e.message);
          if (!button.parentNode) { place.insertBefore(button, next); }
        })
        .then(function () { municipality.disabled = false; });
    });
  });
})();
