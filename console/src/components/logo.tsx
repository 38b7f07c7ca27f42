import { Group, Text, ThemeIcon } from "@mantine/core";
import { IconKey } from "@tabler/icons-react";

export function Logo() {
  return (
    <Group gap="xs" wrap="nowrap">
      <ThemeIcon size="md" radius="sm" aria-hidden>
        <IconKey size={16} />
      </ThemeIcon>
      <Text fw={700} size="lg">
        Tessera
      </Text>
    </Group>
  );
}
