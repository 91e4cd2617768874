// Progressive enhancement only: every page works without this file.
// Filter forms marked data-autosubmit apply a changed select at once.
document.addEventListener("change", (event) => {
  const field = event.target;
  const form = field.closest("form[data-autosubmit]");
  if (form && field.tagName === "SELECT") {
    form.requestSubmit();
  }
});
