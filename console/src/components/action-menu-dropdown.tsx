import { Menu } from "@mantine/core";
import { Link } from "react-router-dom";
import type { ActionMenuProps } from "./action-menu";

/** The loaded half of {@link ActionMenu}: Mantine's Menu (focus moves into it, Escape closes it). */
export function ActionMenuDropdown({ trigger, items, heading, initiallyOpened }: ActionMenuProps & { initiallyOpened: boolean }) {
  return (
    <Menu
      position="bottom-end"
      shadow="md"
      defaultOpened={initiallyOpened}
      returnFocus
      // Inside <main>, so that the open menu is within a landmark; outside the table's scroll box.
      withinPortal
      portalProps={{ target: "main" }}
      // The focus placeholder is a div, which a role="menu" may not contain.
      withInitialFocusPlaceholder={false}
    >
      <Menu.Target>{trigger}</Menu.Target>
      <Menu.Dropdown>
        {heading && <Menu.Label>{heading}</Menu.Label>}
        {items.map((item) =>
          item.to ? (
            <Menu.Item
              key={item.key}
              component={Link}
              to={item.to}
              state={item.state}
              leftSection={item.icon}
              color={item.color}
              disabled={item.disabled}
            >
              {item.label}
            </Menu.Item>
          ) : (
            <Menu.Item key={item.key} leftSection={item.icon} color={item.color} disabled={item.disabled} onClick={item.onClick}>
              {item.label}
            </Menu.Item>
          ),
        )}
      </Menu.Dropdown>
    </Menu>
  );
}
