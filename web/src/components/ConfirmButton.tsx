import { useEffect, useId, useRef, useState, type KeyboardEvent, type ReactNode } from "react";

interface Props {
  /** The button's own words ("Leave the waiting room"). */
  label: string;
  /** The question asked before acting ("Give up your place in line?"). */
  question: string;
  /** What acting does, and why it cannot be undone. */
  children: ReactNode;
  /** The words of the button that acts ("Yes, leave the line"). */
  confirm: string;
  /** The words of the button that changes nothing ("Stay in line"): where the focus starts. */
  keep: string;
  onConfirm: () => void;
  disabled?: boolean;
  className?: string;
}

/**
 * A button for something that cannot be undone (giving up a place in line, releasing a hold):
 * pressing it asks first, with the focus on the answer that changes nothing, so a stray tap on a
 * phone or a second Enter loses nothing; Escape or that answer puts the focus back on the button.
 */
export function ConfirmButton({ label, question, children, confirm, keep, onConfirm, disabled, className = "button" }: Props) {
  const [asking, setAsking] = useState(false);
  const trigger = useRef<HTMLButtonElement>(null);
  const keepButton = useRef<HTMLButtonElement>(null);
  const id = useId();
  useEffect(() => {
    if (asking) keepButton.current?.focus();
  }, [asking]);
  const cancel = () => {
    setAsking(false);
    trigger.current?.focus();
  };
  const onKey = (e: KeyboardEvent) => {
    if (e.key === "Escape") cancel();
  };
  return (
    <>
      <button
        type="button"
        ref={trigger}
        className={className}
        disabled={disabled}
        aria-expanded={asking}
        aria-controls={asking ? id : undefined}
        onClick={() => setAsking(true)}
      >
        {label}
      </button>
      {asking && (
        <div id={id} className="banner banner-info confirm" role="group" aria-labelledby={`${id}-q`} onKeyDown={onKey}>
          <p id={`${id}-q`} className="banner-title">{question}</p>
          {children}
          <div className="actions">
            <button
              type="button"
              className="button button-danger"
              onClick={() => {
                setAsking(false);
                onConfirm();
              }}
            >
              {confirm}
            </button>
            <button type="button" ref={keepButton} className="button" onClick={cancel}>{keep}</button>
          </div>
        </div>
      )}
    </>
  );
}
