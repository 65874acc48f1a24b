// Allure Report 3: one self-contained HTML file per maintenance run.
import { defineConfig } from "allure";

export default defineConfig({
  name: "Flatnet maintenance record",
  plugins: {
    awesome: {
      options: { singleFile: true, reportLanguage: "en", groupBy: ["parentSuite", "suite"] },
    },
  },
  categories: [
    { name: "ROLLBACK FAILED: the target needs a human", matchedStatuses: ["broken", "failed"], messageRegex: ".*ROLLBACK FAILED.*" },
    { name: "Procedure failed and was rolled back", matchedStatuses: ["failed", "broken"] },
  ],
});
