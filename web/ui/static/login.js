// The sign-in page: POST /c/login with the form's fields, then on to the dashboard.

import { errorMessage, safeNext, signIn } from "./api.js";

const form = document.getElementById("login-form");
const error = document.getElementById("login-error");
const submit = document.getElementById("login-submit");

function showError(text) {
  error.textContent = text;
  error.hidden = !text;
}

async function refusal(response) {
  if (response.status === 401) return "Wrong user name or password.";
  if (response.status === 429) {
    const seconds = Number.parseInt(response.headers.get("Retry-After") || "", 10);
    const wait = Number.isFinite(seconds) ? ` Try again in ${Math.ceil(seconds / 60)} min.` : "";
    return `Too many failed sign-ins.${wait || " Try again later."}`;
  }
  if (response.status === 400) return "Enter your user name and password.";
  return `Sign-in failed: ${await errorMessage(response)}`;
}

async function onSubmit(event) {
  event.preventDefault();
  const principal = form.elements.principal.value.trim();
  const password = form.elements.password.value;
  if (!principal || !password) {
    showError("Enter your user name and password.");
    return;
  }
  submit.disabled = true;
  showError("");
  try {
    const response = await signIn(principal, password);
    if (response.ok) {
      const next = new URLSearchParams(window.location.search).get("next");
      window.location.assign(safeNext(next));
      return;
    }
    showError(await refusal(response));
    form.elements.password.select();
  } catch {
    showError("Berth did not answer. Check your connection and try again.");
  } finally {
    submit.disabled = false;
  }
}

form.addEventListener("submit", onSubmit);
