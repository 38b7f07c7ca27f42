import { createTheme, Modal, Notification, PasswordInput } from "@mantine/core";
import { DatePickerInput } from "@mantine/dates";
import type { TFunction } from "i18next";

/**
 * The Mantine theme, including translations of the accessible names that Mantine's own
 * controls carry (close buttons, password visibility, calendar navigation).
 */
export function buildTheme(t: TFunction) {
  const calendarLabels = {
    nextMonth: t("a11y.nextMonth"),
    previousMonth: t("a11y.previousMonth"),
    nextYear: t("a11y.nextYear"),
    previousYear: t("a11y.previousYear"),
    nextDecade: t("a11y.nextDecade"),
    previousDecade: t("a11y.previousDecade"),
    monthLevelControl: t("a11y.monthLevel"),
    yearLevelControl: t("a11y.yearLevel"),
  };
  return createTheme({
    primaryColor: "blue",
    defaultRadius: "sm",
    components: {
      Modal: Modal.extend({ defaultProps: { closeButtonProps: { "aria-label": t("a11y.closeDialog") } } }),
      Notification: Notification.extend({ defaultProps: { closeButtonProps: { "aria-label": t("a11y.closeNotification") } } }),
      PasswordInput: PasswordInput.extend({
        defaultProps: { visibilityToggleButtonProps: { "aria-label": t("a11y.toggleVisibility") } },
      }),
      DatePickerInput: DatePickerInput.extend({
        defaultProps: { ariaLabels: calendarLabels, clearButtonProps: { "aria-label": t("a11y.clear") } },
      }),
    },
  });
}
