/* The filters form sends every field, most of them empty; the URL it pushes to the address bar
   (and that a merchant shares) names only those that are set: ?q=jenny, not
   ?q=jenny&link=&source=&from=&to=&status=. Without JavaScript the form still works, with the
   longer URL. */
"use strict";

document.addEventListener("htmx:configRequest", (event) => {
  const form = event.detail.formData;
  if (!form) {
    return;
  }
  for (const [name, value] of Array.from(form.entries())) {
    if (value === "") {
      form.delete(name);
    }
  }
});
