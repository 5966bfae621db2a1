// Clicking the picture sets the avatar's focal point there: the focal form's two numbers (in
// percent of the picture's width and height), then a submit. Keyboard users use the numbers.
// (A block: upload.js, a classic script too, has its own `form`.)
{
  const form = document.querySelector('[data-focal-form]');
  const area = document.querySelector('[data-focal-area]');
  if (form && area) {
    area.addEventListener('click', (event) => {
      const box = area.querySelector('img').getBoundingClientRect();
      const percent = (offset, size) => Math.round(Math.min(1, Math.max(0, offset / size)) * 100);
      form.elements.x.value = percent(event.clientX - box.left, box.width);
      form.elements.y.value = percent(event.clientY - box.top, box.height);
      form.requestSubmit();
    });
  }
}
