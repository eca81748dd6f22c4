const KEYS: Array<[keys: string[], what: string]> = [
  [['Tab'], 'Next link, field or button; Shift+Tab goes back'],
  [['Enter'], 'Follow a link, sort by a column header, or send a form'],
  [['Space'], 'Tick or untick a checkbox'],
  [['/'], 'Jump to the first filter field'],
  [['?'], 'Show this help'],
  [['Esc'], 'Close a dialog'],
];

export function KeyboardHelp({ onClose }: { onClose: () => void }) {
  return (
    <>
      <h2 id="dialog-title">Keyboard shortcuts</h2>
      <table class="keys">
        <tbody>
          {KEYS.map(([keys, what]) => (
            <tr key={what}>
              <td>
                {keys.map((key, index) => (
                  <span key={key}>
                    {index > 0 ? ' ' : null}
                    <kbd>{key}</kbd>
                  </span>
                ))}
              </td>
              <td>{what}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p>
        Column headers are links: the sort order, the filters and the page are kept in the address, so reload and the
        back button bring them back.
      </p>
      <div class="buttons">
        <button type="button" data-testid="keyboard-help-close" onClick={onClose}>
          Close
        </button>
      </div>
    </>
  );
}
