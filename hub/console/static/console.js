// The console works without scripts; this only adds the print button's action
// (inline handlers are refused by the page's Content-Security-Policy).
document.addEventListener("click", function (event) {
  if (event.target.closest("[data-print]")) { window.print(); }
});
