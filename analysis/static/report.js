window.addEventListener("load", () => {
  const images = Array.from(document.images);
  document.body.dataset.imagesTotal = images.length;
  document.body.dataset.imagesLoaded = images.filter(image => image.complete && image.naturalWidth > 0).length;
  // Where each panel starts on the page, in CSS pixels: tests check what a screenshot of the top shows.
  document.body.dataset.panelTops = Array.from(document.querySelectorAll("main .panel"))
    .map(panel => `${panel.id}:${Math.round(panel.getBoundingClientRect().top + window.scrollY)}`).join(" ");
});
