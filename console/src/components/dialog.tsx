import { Modal, type ModalProps } from "@mantine/core";
import { useEffect } from "react";

let openDialogs = 0;

/** Hides the page behind open dialogs from assistive technology (and from role queries), like a native modal. */
function isolateBackground(): () => void {
  const root = document.getElementById("root");
  openDialogs += 1;
  if (root) {
    root.setAttribute("aria-hidden", "true");
    root.inert = true;
  }
  return () => {
    openDialogs -= 1;
    if (openDialogs === 0 && root) {
      root.removeAttribute("aria-hidden");
      root.inert = false;
    }
  };
}

/**
 * Mantine's Modal (focus trap, Escape to close, labelled by its title) with the rest of the
 * console made inert while it is open.
 */
export function Dialog(props: ModalProps) {
  const { opened } = props;
  useEffect(() => (opened ? isolateBackground() : undefined), [opened]);
  return <Modal {...props} />;
}
