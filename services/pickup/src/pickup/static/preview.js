// Shows the identity document chosen for upload before it is sent: an image as an image,
// a PDF in a frame, anything else by its name. No inline script: the CSP allows 'self' only.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-preview-for]").forEach(function (figure) {
    var input = document.getElementById(figure.getAttribute("data-preview-for"));
    if (!input) { return; }
    var url = null;
    input.addEventListener("change", function () {
      figure.querySelectorAll(".preview-item").forEach(function (old) { old.remove(); });
      if (url) { URL.revokeObjectURL(url); url = null; }
      var file = input.files && input.files[0];
      if (!file) { figure.hidden = true; return; }
      var item;
      if (file.type === "image/jpeg" || file.type === "image/png") {
        url = URL.createObjectURL(file);
        item = document.createElement("img");
        item.src = url;
        item.alt = file.name;
      } else if (file.type === "application/pdf") {
        url = URL.createObjectURL(file);
        item = document.createElement("iframe");
        item.src = url;
        item.title = file.name;
      } else {
        item = document.createElement("p");
        item.textContent = file.name;
      }
      item.className = "preview-item";
      figure.insertBefore(item, figure.firstChild);
      figure.hidden = false;
    });
  });
});
