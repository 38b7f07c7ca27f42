import { type CSSVariablesResolver, createTheme, DEFAULT_THEME, darken } from "@mantine/core";
import type { TFunction } from "i18next";

/**
 * How much each palette's shade 9 is darkened to read at 4.5:1 (WCAG 2.2 AA) both on white and on
 * its own light background (shade 1: light badges and alerts). Palettes not listed pass as they are.
 */
const DARKEN_FOR_TEXT: Partial<Record<string, number>> = {
  red: 0.05,
  teal: 0.1,
  green: 0.15,
  orange: 0.15,
  lime: 0.2,
  yellow: 0.3,
};

/**
 * Text in a colour (light and outline variants, `c="red"`) uses the darkened shade 9; filled
 * variants keep their colour and take black or white text by luminance (`autoContrast`).
 */
export const cssVariablesResolver: CSSVariablesResolver = () => {
  const light: Record<string, string> = {};
  for (const [name, shades] of Object.entries(DEFAULT_THEME.colors)) {
    const text = darken(shades[9], DARKEN_FOR_TEXT[name] ?? 0);
    light[`--mantine-color-${name}-light-color`] = text;
    light[`--mantine-color-${name}-outline`] = text;
    light[`--mantine-color-${name}-text`] = text;
  }
  return { variables: {}, light, dark: {} };
};

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
    // Shade 8: white on the primary blue reads at 5:1 (shade 6 was 3.6:1).
    primaryShade: 8,
    autoContrast: true,
    // White text above this luminance would fall under 4.5:1, so black is used instead.
    luminanceThreshold: 0.19,
    defaultRadius: "sm",
    components: {
      // By name rather than `Modal.extend(…)`: importing a component here would put it in the entry chunk.
      Modal: { defaultProps: { closeButtonProps: { "aria-label": t("a11y.closeDialog") } } },
      Notification: { defaultProps: { closeButtonProps: { "aria-label": t("a11y.closeNotification") } } },
      PasswordInput: { defaultProps: { visibilityToggleButtonProps: { "aria-label": t("a11y.toggleVisibility") } } },
      DatePickerInput: { defaultProps: { ariaLabels: calendarLabels, clearButtonProps: { "aria-label": t("a11y.clear") } } },
    },
  });
}
