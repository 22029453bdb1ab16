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

// Refreshes `element` from `url` every two seconds while the page is visible (the server answers
// the element's content), until what it answers holds [data-finished].
function poll(element, url) {
  const timer = setInterval(async () => {
    if (document.hidden) return;
    try {
      const answer = await fetch(url, { credentials: "same-origin" });
      if (!answer.ok) return;
      element.innerHTML = await answer.text();
      if (element.querySelector("[data-finished]")) clearInterval(timer);
    } catch (_) {
      // The next tick tries again.
    }
  }, 2000);
}

for (const element of document.querySelectorAll("[data-poll]")) {
  poll(element, element.dataset.poll);
}

// Live progress comes over server-sent events (htmx's SSE extension). Where they cannot get
// through (a proxy that refuses or cuts them), the element with data-poll-fallback="URL" stops
// trying and asks that URL every two seconds instead.
document.addEventListener("htmx:sseError", (event) => {
  const element = event.target.closest("[data-poll-fallback]");
  if (!element || element.dataset.polling) return;
  element.dataset.polling = "yes";
  element.removeAttribute("sse-connect");
  if (event.detail && event.detail.source) event.detail.source.close();
  poll(element.querySelector("[sse-swap]") || element, element.dataset.pollFallback);
});
