// Copy buttons for secrets shown once. The page works without this file:
// the secret is plain text and can be selected by hand.
document.addEventListener("click", function (e) {
  var b = e.target.closest("button.copy");
  if (!b) return;
  var el = document.getElementById(b.dataset.copy);
  if (!el || !navigator.clipboard) return;
  navigator.clipboard.writeText(el.textContent).then(function () { b.textContent = "Copied"; });
});
