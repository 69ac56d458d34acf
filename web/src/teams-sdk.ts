// The parts of teams-js the app uses, as one module that teams.ts imports
// on demand: a dynamic import of the package itself would pull in all of it.
export { app, authentication } from "@microsoft/teams-js";
