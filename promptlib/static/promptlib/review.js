// The review page's keys, as in Label Studio and Langfuse's annotation queues: a approve, r reject, e edit,
// n / j next. They never fire while typing in a box; there Ctrl+Enter (or Cmd+Enter) submits.
document.addEventListener("DOMContentLoaded", () => {
  const page = document.getElementById("review");
  if (!page) return;
  const form = document.getElementById("review-form");
  const box = form ? form.querySelector("textarea") : null;
  const decide = (value) => {
    const radio = form && form.querySelector(`input[name="decision"][value="${value}"]`);
    if (!radio) return;
    radio.checked = true;
    form.requestSubmit();
  };
  const typing = (el) => el && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName)) &&
    !(el.tagName === "INPUT" && ["radio", "checkbox", "submit", "button"].includes(el.type));
  let sent = false;
  if (form) form.addEventListener("submit", () => { sent = true; });
  document.addEventListener("keydown", (event) => {
    if (sent) return;
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && form) {
      event.preventDefault();
      const picked = form.querySelector('input[name="decision"]:checked');
      decide(picked ? picked.value : "approve");
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    const key = event.key.toLowerCase();
    if (key === "a") decide("approve");
    else if (key === "r") decide("reject");
    else if (key === "e" && box) { event.preventDefault(); box.focus(); }
    else if ((key === "n" || key === "j") && page.dataset.next) window.location.assign(page.dataset.next);
    else return;
    event.preventDefault();
  });
});
