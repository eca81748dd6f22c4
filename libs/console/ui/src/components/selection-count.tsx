import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';

function boxesOf(table: HTMLElement): HTMLInputElement[] {
  return [...table.querySelectorAll<HTMLInputElement>('input[name="select"]:not(:disabled)')];
}

export function selectedValues(tableId: string): string[] {
  const table = document.getElementById(tableId);
  return table
    ? boxesOf(table)
        .filter((box) => box.checked)
        .map((box) => box.value)
    : [];
}

function SelectionCount({ table }: { table: HTMLElement }) {
  const count = () => boxesOf(table).filter((box) => box.checked).length;
  const [selected, setSelected] = useState(count);
  useEffect(() => {
    const update = () => setSelected(count());
    table.addEventListener('change', update);
    return () => table.removeEventListener('change', update);
  }, [table]);
  return (
    <span data-testid="selection-count">
      {selected === 0 ? 'None selected' : `${selected} of ${boxesOf(table).length} selected`}
    </span>
  );
}

/**
 * Select-all boxes tick every selectable row of their table and show a mixed state when only some are ticked;
 * forms acting on a selection show how many rows it holds.
 */
export function mountSelections(): void {
  for (const all of document.querySelectorAll<HTMLInputElement>('input[data-select-all]')) {
    const table = document.getElementById(all.dataset.selectAll ?? '');
    if (!table) continue;
    const sync = () => {
      const boxes = boxesOf(table);
      const ticked = boxes.filter((box) => box.checked).length;
      all.checked = boxes.length > 0 && ticked === boxes.length;
      all.indeterminate = ticked > 0 && ticked < boxes.length;
    };
    all.addEventListener('change', () => {
      for (const box of boxesOf(table)) box.checked = all.checked;
      table.dispatchEvent(new Event('change'));
    });
    table.addEventListener('change', (event) => {
      if (event.target !== all) sync();
    });
    sync();
  }
  for (const form of document.querySelectorAll<HTMLFormElement>('form[data-selection]')) {
    const table = document.getElementById(form.dataset.selection ?? '');
    const fieldset = form.querySelector('fieldset') ?? form;
    if (!table) continue;
    const host = document.createElement('span');
    host.className = 'selection-count';
    fieldset.appendChild(host);
    render(<SelectionCount table={table} />, host);
  }
}
