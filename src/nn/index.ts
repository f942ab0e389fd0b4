export { Module, type NamedVariable } from './module.js';
