// Makes the upload form friendlier, when JavaScript runs: the file is checked before it is sent,
// a progress bar follows the upload, the button says it is busy, and the answer is shown in the
// page. Without JavaScript the form still posts, and the server answers with a page.
// The limits and the words come from the form's data-* attributes (views/user.ejs, messages.ts).
//
// With data-presign (the store takes direct uploads), the file goes straight to the store
// (objection-imageattach/browser: presign, upload with progress, token), and only the token comes
// back to the app, which claims it: the app never receives the picture's bytes.
import { directUpload } from '/static/direct-upload.js';

const form = document.querySelector('form[data-upload]');
if (form) enhance(form);

function enhance(form) {
  const input = form.querySelector('input[type="file"]');
  const button = form.querySelector('button');
  const progress = form.querySelector('progress');
  const status = form.querySelector('[role="status"]');
  const label = button.textContent;
  // What the last page load said ("Uploaded …", "Picture deleted.", the queue notice): once the
  // form has something to say, that is the current outcome, and the page shows only it.
  const pageOutcomes = document.querySelectorAll('#page-status, .notice');

  function say(text, kind) {
    if (text) for (const outcome of pageOutcomes) outcome.hidden = true;
    status.textContent = text;
    status.className = `flash ${kind}`;
  }

  function busy(on) {
    button.disabled = on;
    button.textContent = on ? 'Uploading…' : label;
    form.setAttribute('aria-busy', String(on));
    progress.hidden = !on;
  }

  /** Words for a file the server would refuse anyway, or undefined. */
  function problemWith(file) {
    if (!file) return form.dataset.noFile;
    const heic = /\.hei[cf]$/i.test(file.name) || /^image\/hei[cf]/.test(file.type);
    // A route whose types leave HEIC out; one that takes it stores it as JPEG.
    if (heic && !/image\/hei[cf]/.test(form.dataset.types)) return form.dataset.heic;
    if (heic) return undefined;
    // An empty type means the browser does not know: let the server read the bytes.
    if (file.type && !form.dataset.types.split(',').includes(file.type)) return form.dataset.notAPicture;
    if (file.size > Number(form.dataset.maxBytes)) return form.dataset.tooLarge;
    return undefined;
  }

  // Say at once when a chosen file will not do.
  input.addEventListener('change', () => {
    const problem = problemWith(input.files[0]);
    say(problem ?? '', problem ? 'error' : '');
  });

  function showProgress(loaded, total, file) {
    progress.max = total;
    progress.value = loaded;
    say(`Uploading “${file.name}”: ${Math.floor((loaded / total) * 100)}%`, 'busy');
  }

  /** The direct way: presign, send the file to the store, then have the app claim the token. */
  async function sendDirect(file) {
    busy(true);
    say(`Uploading “${file.name}”…`, 'busy');
    let token;
    try {
      token = await directUpload(file, {
        presignUrl: form.dataset.presign,
        onProgress: ({ loaded, total }) => showProgress(loaded, total, file),
      });
    } catch (error) {
      busy(false);
      // A refusal of the presign route comes with its words; a failed upload was cut off.
      const words = error.code === 'presign' ? error.body?.message : undefined;
      return say(words ?? (error.code === 'presign' ? form.dataset.serverError : form.dataset.cutOff), 'error');
    }
    const claim = await fetch(form.dataset.claim, {
      method: 'POST',
      headers: { Accept: 'application/json' },
      body: new URLSearchParams({ upload: token, name: file.name }),
    }).catch(() => undefined);
    const answer = await claim?.json().catch(() => undefined);
    if (answer && answer.next) return window.location.assign(answer.next);
    busy(false);
    say(answer && answer.text ? answer.text : claim ? form.dataset.serverError : form.dataset.cutOff, 'error');
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (button.disabled) return;
    const file = input.files[0];
    const problem = problemWith(file);
    if (problem) return say(problem, 'error');
    if (form.dataset.presign) return void sendDirect(file);

    // XMLHttpRequest, not fetch: only it reports how much of the body has been sent.
    const request = new XMLHttpRequest();
    request.open('POST', form.action);
    request.setRequestHeader('Accept', 'application/json');
    request.responseType = 'json';
    request.upload.addEventListener('progress', (e) => {
      if (e.lengthComputable) showProgress(e.loaded, e.total, file);
    });
    request.addEventListener('load', () => {
      const answer = request.response;
      // Done: load the page, which shows the new picture and the message.
      if (answer && answer.next) return window.location.assign(answer.next);
      busy(false);
      // A refusal comes as JSON with its words; anything else is the server's own failure.
      say(answer && answer.text ? answer.text : form.dataset.serverError, 'error');
    });
    request.addEventListener('error', () => {
      busy(false);
      say(form.dataset.cutOff, 'error');
    });
    busy(true);
    say(`Uploading “${file.name}”…`, 'busy');
    request.send(new FormData(form));
  });
}
