// Copy buttons: a button with data-copy="ID" copies the value of the field with that id.
document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const field = document.getElementById(button.dataset.copy);
  if (!field) return;
  field.select();
  const done = () => { button.textContent = "Copied"; setTimeout(() => { button.textContent = "Copy"; }, 2000); };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(field.value).then(done, () => document.execCommand("copy") && done());
  } else if (document.execCommand("copy")) {
    done();
  }
});

// Live parts: an element with data-poll="URL" is refreshed from that URL every two seconds while
// the page is visible; the server answers the element's content.
for (const element of document.querySelectorAll("[data-poll]")) {
  const refresh = async () => {
    if (document.hidden) return;
    try {
      const answer = await fetch(element.dataset.poll, { credentials: "same-origin" });
      if (answer.ok) element.innerHTML = await answer.text();
    } catch (_) {
      // The next tick tries again.
    }
  };
  setInterval(refresh, 2000);
}
