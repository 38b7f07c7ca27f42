import { cloneElement, lazy, type ReactElement, type ReactNode, Suspense, useState } from "react";

/** One entry of an {@link ActionMenu}: a button (`onClick`) or a router link (`to`). */
export interface MenuEntry {
  key: string;
  label: string;
  icon?: ReactNode;
  color?: string;
  disabled?: boolean;
  onClick?: () => void;
  to?: string;
  state?: unknown;
}

export interface ActionMenuProps {
  /** The button that opens the menu; it must carry its accessible name (`aria-label`). */
  trigger: ReactElement<{ onClick?: () => void; onPointerEnter?: () => void; onFocus?: () => void }>;
  items: MenuEntry[];
  /** A non-interactive heading above the items (e.g. the signed-in email). */
  heading?: string;
}

const load = () => import("./action-menu-dropdown");
const Dropdown = lazy(() => load().then((m) => ({ default: m.ActionMenuDropdown })));

/**
 * A menu whose code (Mantine's Menu, Popover and floating-ui, ~40 KB gzip'd) loads when it is first
 * pointed at, focused or opened, not with the first screen. Until then the trigger is a plain button;
 * the first activation opens the menu as soon as the code has arrived.
 */
export function ActionMenu({ trigger, items, heading }: ActionMenuProps) {
  const [wanted, setWanted] = useState(false);
  if (!wanted) {
    return cloneElement(trigger, {
      onClick: () => setWanted(true),
      onPointerEnter: () => void load(),
      onFocus: () => void load(),
    });
  }
  return (
    <Suspense fallback={trigger}>
      <Dropdown trigger={trigger} items={items} heading={heading} initiallyOpened />
    </Suspense>
  );
}
