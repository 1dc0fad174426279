// The leaderboard's filters (category, cost, percentile, flags) and its CSV export of the rows shown.
(function () {
  var table = document.getElementById("leaderboard");
  var form = document.getElementById("shortlist");
  if (!table || !form) { return; }
  var rows = function () { return Array.prototype.slice.call(table.tBodies[0].rows); };
  var number = function (id) {
    var v = form.querySelector(id).value;
    return v === "" ? null : Number(v);
  };
  function apply() {
    var category = form.querySelector("#f-category").value;
    var maxCost = number("#f-cost"), minPct = number("#f-pct");
    var flags = form.querySelector("#f-flags").value;
    var shown = 0;
    rows().forEach(function (row) {
      var d = row.dataset, ok = true;
      if (category === "(none)") { ok = d.category === ""; } else if (category) { ok = d.category === category; }
      // Unknown is not "cheap enough" nor "good enough": a KOL without the figure is hidden.
      if (ok && maxCost !== null) { ok = d.cost !== "" && Number(d.cost) <= maxCost; }
      if (ok && minPct !== null) { ok = d.pct !== "" && 100 * Number(d.pct) >= minPct; }
      if (ok && flags === "none") { ok = d.flags === "0"; }
      if (ok && flags === "some") { ok = d.flags !== "0"; }
      row.hidden = !ok;
      if (ok) { shown += 1; }
    });
    form.querySelector("#f-count").textContent = shown + " of " + rows().length + " KOLs shown";
  }
  function field(value) {
    var text = String(value);
    // A cell a spreadsheet would run as a formula is written as text.
    if (/^[=+\-@\t\r]/.test(text) && isNaN(Number(text))) { text = "'" + text; }
    return '"' + text.replace(/"/g, '""') + '"';
  }
  function csv() {
    var heads = Array.prototype.map.call(table.tHead.rows[0].cells, function (th) { return th.textContent.trim(); });
    var lines = [["user_id"].concat(heads).map(field).join(",")];
    rows().forEach(function (row) {
      if (row.hidden) { return; }
      var cells = Array.prototype.map.call(row.cells, function (td) {
        if (td.dataset.csv !== undefined) { return td.dataset.csv; }
        return td.dataset.v !== undefined && td.dataset.v !== "" ? td.dataset.v : td.textContent.trim();
      });
      lines.push([row.dataset.user].concat(cells).map(field).join(","));
    });
    return "\ufeff" + lines.join("\r\n") + "\r\n";
  }
  form.addEventListener("submit", function (e) { e.preventDefault(); });
  form.addEventListener("input", apply);
  form.addEventListener("change", apply);
  form.querySelector("#f-export").addEventListener("click", function () {
    var url = URL.createObjectURL(new Blob([csv()], { type: "text/csv;charset=utf-8" }));
    var link = document.createElement("a");
    link.href = url;
    link.download = "kol-shortlist.csv";
    document.body.appendChild(link);
    link.click();
    setTimeout(function () { URL.revokeObjectURL(url); link.remove(); }, 0);
  });
  apply();
})();
